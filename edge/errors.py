"""One exception root for edge-vitals.

Each subclass also inherits the matching builtin, so that callers who catch
``ValueError`` or ``RuntimeError`` keep working.
"""

__all__ = ["BackendError", "CaptureError", "ConfigError", "InputError", "VitalsError"]


class VitalsError(Exception):
    """Root of every error raised on purpose by edge-vitals."""


class ConfigError(VitalsError, ValueError):
    """A configuration value is out of range, of the wrong type or unknown."""


class InputError(VitalsError, ValueError):
    """A frame, timestamp, signal or file is not what the function expects."""


class BackendError(VitalsError, RuntimeError):
    """An inference backend is missing, or a model file cannot be used."""


class CaptureError(VitalsError, RuntimeError):
    """A camera or video source cannot be opened or stopped delivering frames."""
