"""Typed errors of the xApp core. Each carries a short ``reason`` used as a counter key;
the message's handler turns them into replies, counts and (rate-limited) log lines."""

__all__ = ["MalformedMessage", "PolicyRefused", "XappError"]


class XappError(Exception):
    """Base of the core's errors; ``cell`` names the cell concerned ("?": unknown)."""

    reason = "error"
    cell = "?"


class MalformedMessage(XappError):
    """A PDU or payload that cannot be decoded, fails its schema or cannot be served."""

    def __init__(self, reason: str, detail: str, *, cell: str = "?") -> None:
        self.reason, self.cell = reason, cell
        super().__init__(f"{reason}: {detail}")


class PolicyRefused(XappError):
    """An A1 policy that was refused; the running SAM stays."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}")
