"""JSON Schemas (draft-07) of every message the project exchanges, one validator, and
typed views of what code reads (the A1 policy).

    >>> from schemas import A1Policy, validate
    >>> validate("model-manifest", manifest)        # raises SchemaValidationError
    >>> A1Policy.parse(payload).mode                 # validated, typed
"""

from schemas.a1_policy import A1_POLICY_SCHEMA, A1_POLICY_TYPE_ID, A1Policy, Mode, ProxyRef
from schemas.validation import SCHEMA_NAMES, SchemaValidationError, load, validate

__all__ = [
    "A1_POLICY_SCHEMA",
    "A1_POLICY_TYPE_ID",
    "SCHEMA_NAMES",
    "A1Policy",
    "Mode",
    "ProxyRef",
    "SchemaValidationError",
    "load",
    "validate",
]
