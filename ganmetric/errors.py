"""Exceptions and warnings raised by ganmetric.

Every error a user can cause with bad input derives from :class:`GanmetricError`
so that the CLI can print it as one line instead of a traceback.
"""


class GanmetricError(Exception):
    """Base class of every error ganmetric raises on purpose.

    Args:
        message: what went wrong.
        mentions: arguments the message refers to (what to change), each written in it as a
            ``{name}`` field (the message is then a ``str.format`` template: other braces
            doubled), e.g. ``WeightsError("... offline, give {lpips_backbone} random",
            mentions=("lpips_backbone",))``; ``str(exc)`` names them as the Python API calls
            them, and a front end names them its own way (:meth:`worded`: the CLI's flags).
    """

    def __init__(self, *args, mentions: tuple[str, ...] = ()):
        self.mentions = tuple(mentions)
        self.template = args[0] if self.mentions else None
        if self.mentions:
            args = (self.worded({}), *args[1:])
        super().__init__(*args)

    def worded(self, names) -> str:
        """The message with each argument it mentions named as ``names`` says.

        Args:
            names: argument -> how to show it (a front end's flag); an argument not in it keeps
                its Python name.

        Returns:
            The message (the first argument the error was raised with).
        """
        if self.template is None:
            return str(self.args[0]) if self.args else ""
        return self.template.format(**{m: names.get(m, m) for m in self.mentions})


class InputError(GanmetricError, ValueError):
    """An argument, file or option has the wrong value, shape or type.

    Every one the package raises names the argument to blame (tests/test_errors.py scans the
    source for it). A message about the argument's value starts with its name as the subject
    ("k must be at least 1, got 0"; never with the name in another role, such as "k and
    max_iter ..."), so that a front end can put its own name for the argument in that one place:
    the command line shows ``Invalid value for '--k': must be at least 1, got 0``
    (:mod:`ganmetric_cli.flags`). Other arguments the message refers to (what to change instead)
    are written as ``{name}`` fields and listed in ``mentions``, so that a front end names them
    its own way too (:meth:`GanmetricError.worded`); the rest is shown as written.

    Args:
        message: what was wrong, naming arguments as the Python API calls them.
        argument: the name of the argument to blame, as the Python API calls it (``"eps"``,
            ``"out_dir"``, ``"latent_space"``): the keyword of the function the user called, or
            of the request object (``ModelSpec``: ``"model"``, ``"weights"``) that carried it.
        mentions: other arguments the message refers to (see :class:`GanmetricError`).
    """

    def __init__(self, *args, argument: str | None = None, mentions: tuple[str, ...] = ()):
        super().__init__(*args, mentions=mentions)
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
