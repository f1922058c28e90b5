"""The exceptions memscan raises. Every one derives from :class:`MemscanError`."""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "Busy",
    "InternalError",
    "InvalidAddress",
    "InvalidArgument",
    "InvalidFile",
    "InvalidValue",
    "MemoryBudgetExceeded",
    "MemscanError",
    "ProcessExited",
    "ProcessNotFound",
    "Unsupported",
    "WriteFailed",
]


class MemscanError(Exception):
    """Base class of every memscan error."""


class ProcessNotFound(MemscanError, LookupError):
    """No process has this pid (or name)."""


class AccessDenied(MemscanError, PermissionError):
    """The process exists but may not be read or written; the message says why."""


class ProcessExited(MemscanError):
    """The process exited while it was in use. Results gathered before stay readable."""


class InvalidAddress(MemscanError, ValueError):
    """An address range outside every mapped region, or not readable/writable as asked."""


class InvalidValue(MemscanError, ValueError):
    """A value that does not fit its type (never wrapped), or is not a number."""


class InvalidArgument(MemscanError, ValueError):
    """A malformed argument: unknown type or operator name, bad pattern, empty input."""


class WriteFailed(MemscanError, OSError):
    """The kernel stopped a write part way; the bytes already written were restored."""


class MemoryBudgetExceeded(MemscanError, MemoryError):
    """The operation would use more memory than its budget allows."""


class InvalidFile(MemscanError, ValueError):
    """A file memscan cannot load: truncated, foreign, or with inconsistent metadata; the
    message names the file and the problem."""


class Unsupported(MemscanError, OSError):
    """The kernel or CPU cannot do this here: no free debug register, no hardware breakpoints,
    a length or alignment the CPU does not support; the message names the reason."""


class Busy(MemscanError, TimeoutError):
    """The target kept using what was to be changed (a thread executing inside the bytes of a
    patch) for longer than the call waits; nothing was changed."""


class InternalError(MemscanError):
    """A bug in memscan (a worker panicked); the message gives the panic and its location.
    Results from earlier steps stay readable."""
