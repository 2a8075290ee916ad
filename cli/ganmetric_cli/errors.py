"""One-line errors and warnings, and the exit statuses, decided in one place.

Every error a user can cause ends the command with one ``Error: ...`` line on stderr, never
a traceback: exit status 2 for bad input (what the user typed or gave; click's own usage
errors use 2 too), 1 for a failure at run time (weights unavailable, a non-deterministic
generator, ...), 130 for an interrupt (Ctrl-C). Warnings show as one ``Warning: ...`` line
each. How an error about one argument names the command's flag: :mod:`ganmetric_cli.flags`.
"""
from __future__ import annotations

import sys
import warnings

import click

from ganmetric.errors import GanmetricError, InputError, first_line

#: exit statuses: bad input, a failure at run time, an interrupt (Ctrl-C)
EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130


def one_line_error(message: str, exc: BaseException) -> click.ClickException:
    """The ``Error: message`` line for ``exc``, with its exit status: :data:`EXIT_BAD_INPUT` for bad input
    (``InputError``, a path that is missing or not allowed), else :data:`EXIT_FAILED`."""
    error = click.ClickException(message)
    error.exit_code = EXIT_BAD_INPUT if isinstance(exc, (InputError, FileNotFoundError, PermissionError)) \
        else EXIT_FAILED
    return error


class OneLineErrors(click.Group):
    """A click group that turns ganmetric's own errors (bad input, weights, files) into one
    ``Error: ...`` line on stderr, never a traceback (exit status 2 for bad input, 1 for a failure
    at run time: :func:`one_line_error`), and shows warnings as one ``Warning: ...`` line each (not
    Python's file:line form). Errors about a command's own flags are worded in
    :func:`ganmetric_cli.flags.install_flag_names`, inside the command."""

    def invoke(self, ctx):
        previous = warnings.showwarning
        warnings.showwarning = _one_line_warning
        try:
            return super().invoke(ctx)
        except (GanmetricError, FileNotFoundError, PermissionError) as exc:
            raise one_line_error(first_line(exc), exc) from None
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(EXIT_INTERRUPTED)
        finally:
            warnings.showwarning = previous


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"Warning: {first_line(message) if isinstance(message, Warning) else message}", err=True)
