"""Exceptions and warnings raised by ganmetric.

Every error a user can cause with bad input derives from :class:`GanmetricError`
so that the CLI can print it as one line instead of a traceback.
"""


class GanmetricError(Exception):
    """Base class of every error ganmetric raises on purpose."""


class InputError(GanmetricError, ValueError):
    """An argument, file or option has the wrong value, shape or type.

    Args:
        message: what was wrong, naming the argument as the Python API calls it.
        argument: that argument's name when one is to blame (``"eps"``, ``"resize"``), so that a
            front end can name its own flag for it (``--resize``); else None.
    """

    def __init__(self, *args, argument: str | None = None):
        super().__init__(*args)
        self.argument = argument


class WeightsError(GanmetricError):
    """Model weights could not be obtained or failed verification."""


class NotDeterministicError(GanmetricError, RuntimeError):
    """The generator or distance gives different outputs for the same input."""


class NonFiniteError(GanmetricError, ArithmeticError):
    """A value computed at a point is NaN or inf (the generator's image, a metric product, H):
    the model or its derivative is not finite there, or its values overflow the dtype. Never
    saved as a result."""


class ResultFileError(InputError):
    """A result file is missing, corrupt or not a ganmetric result."""


class OutputError(GanmetricError):
    """An output could not be written (a full disk, a folder that cannot be created); nothing
    partial is left: files are renamed into place whole and output folders swapped in whole."""


class FolderLockedError(OutputError):
    """Another run holds the output folder (its lock file names the process)."""


class NumericalWarning(UserWarning):
    """An iterative solver did not reach its tolerance (filterable)."""


class OutOfMemoryWarning(UserWarning):
    """A batched pass ran out of device memory and was retried with fewer tangents (filterable).

    A ``UserWarning``, not a ``ResourceWarning``: Python's default filters hide ResourceWarnings,
    and a user should see that the computation ran slower than it could (or set ``chunk``).
    """


class UntrainedWeightsWarning(UserWarning):
    """A generator runs on untrained initial weights (a custom module given no weights file)."""


class UnknownSourceWarning(UserWarning):
    """An NVIDIA network pickle's code is not a known NVIDIA release: it was loaded by its structure (filterable)."""


class DeviceWarning(UserWarning):
    """A saved generator may not run on the device it is moved to (a trace holds another device's constants)."""


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (its type name if it has none)."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__
