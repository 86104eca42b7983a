"""RMR message types the xApp sends and receives (O-RAN SC values)."""

from enum import IntEnum

__all__ = ["MType"]


class MType(IntEnum):
    RIC_HEALTH_CHECK_REQ = 100
    RIC_HEALTH_CHECK_RESP = 101
    RIC_SUB_REQ = 12010
    RIC_SUB_RESP = 12011
    RIC_SUB_FAILURE = 12012
    RIC_SUB_DEL_REQ = 12020
    RIC_SUB_DEL_RESP = 12021
    RIC_CONTROL_REQ = 12040
    RIC_CONTROL_ACK = 12041
    RIC_INDICATION = 12050
    A1_POLICY_REQ = 20010
    A1_POLICY_RESP = 20011
    A1_POLICY_QUERY = 20012
