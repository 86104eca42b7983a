"""The near-RT RIC xApp: E2 CSI reports in, reconstructions out, SAMs swapped by A1.

The core (:class:`xapp.core.CsiXapp`) is a plain object with
``handle(mtype, payload, meid) -> [(mtype, payload), ...]``; the RMR shell
(ricxappframe) only receives, calls it and replies. Nothing here imports torch.
"""

__all__: list[str] = []
