"""Typed errors of the model store. Verification failures say exactly which check failed."""


class StoreError(Exception):
    """Base class of every error the model store raises on purpose."""


class NotFound(StoreError, LookupError):
    """No such model name or version in the store."""


class VersionExists(StoreError):
    """A version is never overwritten."""


class MarkedBad(StoreError):
    """The version asked for was marked bad (rolled back)."""


class VerificationError(StoreError):
    """An artifact was refused. ``reason`` is a short machine-readable code."""

    reason = "refused"


class MalformedArtifact(VerificationError):
    reason = "malformed"


class MissingSignature(VerificationError):
    reason = "missing-signature"


class UnknownSigningKey(VerificationError):
    reason = "unknown-key"


class BadSignature(VerificationError):
    reason = "bad-signature"


class InvalidManifest(VerificationError):
    reason = "invalid-manifest"


class HashMismatch(VerificationError):
    reason = "sha256-mismatch"


class IncompatibleModel(VerificationError):
    """Shapes, dtypes, projection or LAM sha256 do not match what the runtime needs."""

    reason = "incompatible"
