"""Library arguments shown as the command's flags, from a table generated from the commands' own parameters.

A ganmetric error about one argument names it (``InputError.argument``: ``seed``, ``out_dir``,
``latent_space``, as the Python API calls it). Every click parameter knows its Python name and
its flag, and a command names its parameters after the library arguments they feed
(``click.option("--out", "out_dir")``), so the table argument -> flag is read off the command
(:func:`flag_table`), never written by hand. An option that feeds a library argument of
another name, such as two flags for one argument (``--from-seed`` and ``--z-from`` both give
``z_a``), says so itself: ``click.option("--from-seed", cls=Feeds, feeds="z_a")``.

The format, in one place (:func:`library_error`): an error about an argument the user gave (a
flag on the command line, or a positional argument) reads as click's own bad-parameter errors,

    Error: Invalid value for '--seed': must be an integer in [0, 2**63), got -1

the flag in front of the library's message, whose leading subject (the argument's name, where
the message starts with it: "seed must be ...") is left out. About an argument left at its
default, the flag takes the subject's place ("Error: --max-points 10000 is fewer than the
1000000 points asked for ..."), and a message that does not start with the argument is shown
as it is ("Error: the basis h.npz was made with another model setting ..."). Other arguments the message refers
to are named by their flags too, through the error's own list of them
(``InputError(..., mentions=("overwrite",))``, :meth:`ganmetric.errors.InputError.worded`);
nothing in the message is found by searching its text. An error about an argument the
command has no flag for (:data:`SHOWN_AS_WRITTEN`: the viewer's request fields, objects only the
Python API passes, files named in the message) is shown as the library wrote it.
"""
from __future__ import annotations

import functools

import click

from ganmetric.errors import GanmetricError, first_line

from .errors import one_line_error

#: library arguments that no command has a flag for: their errors are shown as the library wrote
#: them. tests/test_errors.py checks that every argument the package names is a flag (or positional
#: argument) of some command, or listed here.
SHOWN_AS_WRITTEN = frozenset({
    # the viewer's request fields (its own page sends them)
    "axis", "body", "coefficients", "radius", "z0",
    # objects and arrays only the Python API passes
    "D", "G", "action_codes", "axes", "calibrated", "class_embedding", "classes", "codes", "distances", "eigvals",
    "image", "metric", "results", "ts", "weight", "x", "y", "z",
    # ganmetric.testing's and the operators' own arguments (Python only)
    "V", "v", "probes", "step",
    # options no command exposes (a command sets them from its own flags, or leaves their default)
    "alignment_ks", "architecture", "block", "channels", "check_every", "eigval_floor", "input_shape", "kind", "max_distance",
    "max_step", "mean_style_seed", "n", "n_targets", "noise_seed", "rtol", "seeds", "size",
    # a file the message names itself
    "path", "source",
    # set in a model's config file
    "lr_mlp",
})


class Feeds(click.Option):
    """A click option that feeds the library argument ``feeds`` (another name than its own), so that
    the library's errors about that argument name this flag: ``cls=Feeds, feeds="z_a"``."""

    def __init__(self, *args, feeds: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.feeds = feeds


def flag_of(param: click.Parameter) -> str:
    """How a parameter is shown: an option's (first) long flag, a positional argument's metavar."""
    if isinstance(param, click.Option):
        longs = [o for o in param.opts if o.startswith("--")]
        return longs[0] if longs else param.opts[0]
    return param.human_readable_name


def flag_table(command: click.Command, ctx: click.Context | None = None) -> dict[str, str]:
    """Library argument -> the command's flag for it: each parameter's Python name, and the argument a
    :class:`Feeds` option feeds. An argument fed by several options gets the one the user gave (in
    ``ctx``), else the first."""
    table: dict[str, str] = {}
    for param in command.params:
        for name in (param.name, getattr(param, "feeds", None)):
            if name is not None and (name not in table or _given(ctx, param.name)):
                table[name] = flag_of(param)
    return table


def _given(ctx: click.Context | None, name: str | None) -> bool:
    source = ctx.get_parameter_source(name) if ctx is not None and name else None
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def known_arguments(group: click.Group) -> set[str]:
    """Every library argument some command under ``group`` has a flag for."""
    names: set[str] = set()
    for command in group.commands.values():
        names |= known_arguments(command) if isinstance(command, click.Group) else set(flag_table(command))
    return names


def library_error(exc: GanmetricError, ctx: click.Context) -> click.ClickException:
    """``exc`` as the command's one error line: about a flag of the command (its ``argument``), as click
    words a bad parameter; else the library's first line as written (exit status: :func:`one_line_error`)."""
    table = flag_table(ctx.command, ctx)
    message = first_line(exc.worded(table)) if exc.args else first_line(exc)
    argument = getattr(exc, "argument", None)
    flag = table.get(argument) if argument else None
    if flag is None:
        return one_line_error(message, exc)
    rest = without_subject(message, argument)
    if _given(ctx, _parameter_of(ctx.command, argument, ctx)):
        return one_line_error(f"Invalid value for '{flag}': {rest}", exc)
    return one_line_error(message if rest is message else f"{flag} {rest}", exc)


def _parameter_of(command: click.Command, argument: str, ctx: click.Context) -> str | None:
    """The name of the command's parameter that feeds ``argument`` (the one the user gave, if several do)."""
    feeding = [p for p in command.params if argument in (p.name, getattr(p, "feeds", None))]
    chosen = [p for p in feeding if _given(ctx, p.name)] or feeding
    return chosen[0].name if chosen else None


def without_subject(message: str, argument: str) -> str:
    """``message`` less its leading subject, the argument's name ("seed must be ..." -> "must be ..."), if
    it starts with it; the flag takes its place."""
    for subject in (f"{argument} ", f"{argument}: "):
        if message.startswith(subject):
            return message[len(subject):]
    return message


def bad_value(argument: str, message: str) -> click.BadParameter:
    """click's error about the current command's flag for ``argument`` (``Invalid value for '--points':
    message``), for what the command itself refuses before calling the library."""
    ctx = click.get_current_context()
    return click.BadParameter(message, ctx=ctx, param_hint=f"'{flag_table(ctx.command, ctx).get(argument, argument)}'")


def install_flag_names(group: click.Group) -> None:
    """Make every command under ``group`` report library errors about its flags in its flag names."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            install_flag_names(command)
        elif not getattr(command.callback, "_flag_names", False):
            command.callback = _reporting_flags(command.callback)


def _reporting_flags(callback):
    @functools.wraps(callback)
    def wrapped(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except GanmetricError as exc:
            raise library_error(exc, click.get_current_context()) from None
    wrapped._flag_names = True
    return wrapped
