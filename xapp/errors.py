"""Typed errors of the xApp core. Each carries a short ``reason`` used as a counter key;
the transport shell turns them into replies and (rate-limited) log lines."""


class XappError(Exception):
    reason = "error"


class MalformedMessage(XappError):
    """A PDU or payload that cannot be decoded or fails its schema."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}")


class PolicyRefused(XappError):
    """An A1 policy that was refused; the running SAM stays."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}")
