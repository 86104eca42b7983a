"""Simulated E2 nodes: cells in environments, UEs sending CSI reports as real E2AP PDUs."""

from ransim.node import Cell, E2Node

__all__ = ["Cell", "E2Node"]
