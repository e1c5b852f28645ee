"""Errors lowtf raises: each names the problem and how to fix it.

Every error derives from `LowtfError`, so callers (and the CLI) can catch one
type and print its message without a traceback.
"""


class LowtfError(Exception):
    """Base class of every error lowtf raises on purpose."""

    # Let AutoGraph re-raise it unchanged when it is raised while tracing a tf.function.
    ag_pass_through = True


class DataError(LowtfError, ValueError):
    """Input data is missing, corrupt, or has the wrong shape, dtype or values."""


class ConfigError(LowtfError, ValueError):
    """An argument or configuration value is invalid."""


class CheckpointError(LowtfError):
    """A checkpoint is missing, corrupt, or belongs to a different model."""


class NonFiniteLossError(LowtfError, FloatingPointError):
    """The loss, a gradient or an updated weight became NaN or Inf; that update was not applied."""

    def __init__(self, message, step=None):
        super().__init__(message)
        self.step = step


class WorkerLostError(LowtfError, RuntimeError):
    """A peer of a multi-worker run failed or became unreachable."""


def add_context(error, text):
    """Appends `text` (where it happened) to `error`'s traceback, on Python 3.11+.

    For an error of the user's own code, re-raised as it is: its type, message and
    frames stay theirs, lowtf only says where in the run it struck.
    """
    if hasattr(error, "add_note"):
        error.add_note(text)
    return error


def check_count(name, value, optional=False):
    """Returns `value`; raises a `ConfigError` unless it is an int >= 1 (or None, if `optional`)."""
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be an int >= 1{' or None' if optional else ''}, "
                          f"got {value!r}")
    return value
