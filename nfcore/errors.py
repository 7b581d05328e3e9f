"""The project's exception types. The CLI prints their message on one line and exits non-zero."""


class NFCoreError(Exception):
    """Base class for every error a user can act on."""


class ConfigError(NFCoreError):
    """A configuration file or value is invalid. The message names the key path."""


class ISAError(NFCoreError):
    """An instruction cannot be encoded or decoded (field out of range, unknown opcode)."""


class ImageError(NFCoreError):
    """An on-disk image is corrupt, of another format version, or does not match its config."""


class CompileError(NFCoreError):
    """A model cannot be mapped onto the configured core (too large, unsupported layer)."""


class ExecutionError(NFCoreError):
    """A program did something the core does not allow (address out of range, no HALT)."""


class ReportError(NFCoreError, ValueError):
    """Report data is incomplete, a statistic has no values, or a report cannot be written."""


class AgreementError(NFCoreError):
    """Two models that must agree bit for bit and cycle for cycle did not (the golden model,
    the compiler's integer reference, the SimPy model, the RTL)."""
