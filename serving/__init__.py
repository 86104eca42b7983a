"""Serving: :class:`LascoRuntime` reconstructs CSI for many environments with one LAM,
one reference SAM and a proxy SAM per environment, on ONNX Runtime (numpy and
onnxruntime only, never torch)."""

from serving.proxies import IncompatibleProxy, ProxySlot
from serving.runtime import LascoRuntime, Reconstruction, RowStatus
from serving.scheduling import plan_chunks, session_options

__all__ = [
    "IncompatibleProxy",
    "LascoRuntime",
    "ProxySlot",
    "Reconstruction",
    "RowStatus",
    "plan_chunks",
    "session_options",
]
