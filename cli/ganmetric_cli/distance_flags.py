"""``--distance`` and the distances' own flags, generated from ganmetric's registry of distances.

Every option a registered distance declares (``ganmetric.distances.DistanceOption``) is one
flag, ``--`` and its name with dashes (``lpips_backbone`` -> ``--lpips-backbone``), with the
registry's help text; ``--distance`` takes every registered name and ``module.path:factory``.
A distance added to the registry is on the command line without an edit here.
"""
from __future__ import annotations

import functools

import click

from ganmetric.distances import (DEFAULT_DISTANCE, DistanceSpec, distance_entries, distance_entry, distance_forms,
                                 shell_options)
from ganmetric.errors import InputError


def flag(name: str) -> str:
    """The flag of a distance option: ``--`` and the name with dashes."""
    return "--" + name.replace("_", "-")


#: the flags distance_options adds, in order (for messages such as "... apply to image: objectives only")
DISTANCE_FLAGS = ("--distance",) + tuple(flag(name) for name in shell_options())
#: the same in words: "--distance, --lpips-backbone and --resize"
DISTANCE_FLAGS_IN_WORDS = f"{', '.join(DISTANCE_FLAGS[:-1])} and {DISTANCE_FLAGS[-1]}"


class DistanceParam(click.ParamType):
    """``--distance``: a registered distance or ``module.path:factory`` (checked by form: nothing is imported
    before the command runs)."""

    name = "distance"

    def convert(self, value, param, ctx):
        try:
            distance_entry(value)
        except InputError:  # worded as click words a bad choice (the library's "Invalid distance ..." would repeat it)
            self.fail(f"'{value}' is not one of {', '.join(distance_forms())}", param, ctx)
        return value

    def get_metavar(self, param, *args, **kwargs):
        return "[" + "|".join(distance_forms()) + "]"


def _distance_help() -> str:
    # each form in backticks: the site renders the help as Markdown, where "path:factory: ..." was an emoji code
    forms = "; ".join(f"`{e.form}`: {e.help}" for e in distance_entries())
    return (f"Distance pulled back through the generator. {forms}. Default: the one the input file records, else "
            f"{DEFAULT_DISTANCE}.")


def distance_options(f):
    """--distance and every distance option of the registry, passed to the command as one ``distance_spec``
    (a :class:`ganmetric.distances.DistanceSpec` of what was typed)."""
    options = shell_options()

    @functools.wraps(f)
    def command(*args, **kwargs):
        kwargs["distance_spec"] = DistanceSpec(kwargs.pop("distance"), {name: kwargs.pop(name) for name in options})
        return f(*args, **kwargs)

    opts = [click.option("--distance", "-d", type=DistanceParam(), default=None, help=_distance_help())]
    opts += [click.option(flag(name), name, type=option.type, default=None,
                          help=f"{option.help} Distances: {', '.join(owners)}.")
             for name, (option, owners) in options.items()]
    for opt in reversed(opts):
        command = opt(command)
    return command
