"""Parameter types of the command line: seeds, lists of integers or seeds, ``auto``-or-integer chunks.

Each is refused as the flag's bad value (click's ``Invalid value for '--seed': ...``) before anything is
loaded; the range checks are the library's (:mod:`ganmetric.checks`), worded as :mod:`ganmetric_cli.flags`
words them.
"""
from __future__ import annotations

import click

from ganmetric import checks
from ganmetric.errors import InputError, first_line

from .flags import without_subject


class SeedParam(click.ParamType):
    """A seed flag: an integer in [0, 2**63) (:func:`ganmetric.checks.seed`)."""

    name = "integer"

    def convert(self, value, param, ctx):
        try:
            number = value if isinstance(value, int) and not isinstance(value, bool) else int(str(value), 10)
        except ValueError:
            self.fail(f"{value!r} is not a valid integer", param, ctx)
        return _seed(number, self, param, ctx)


def _seed(number: int, kind: click.ParamType, param, ctx) -> int:
    try:
        return checks.seed("seed", number)
    except InputError as exc:
        kind.fail(without_subject(first_line(exc), "seed"), param, ctx)


#: the type of every --seed flag
SEED = SeedParam()


class IntList(click.ParamType):
    """Comma-separated integers (``--axes-list 0,1,2``), at least one; the library checks their range.

    Args:
        example: a value to show in the message about a malformed one.
    """

    name = "integers"
    #: what one item is, for messages
    item = "integer"

    def __init__(self, example: str = "0,1,2"):
        self.example = example

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple)):
            return list(value)
        try:
            items = [int(v) for v in str(value).replace(" ", "").split(",") if v != ""]
        except ValueError:
            self.fail(f"expected comma-separated {self.item}s like {self.example}, got {value}", param, ctx)
        if not items:
            self.fail(f"expected at least one {self.item}", param, ctx)
        return items


class SeedList(IntList):
    """Comma-separated seeds (``--action-seeds 0,1,2``), each checked as a seed."""

    name = "seeds"
    item = "seed"

    def convert(self, value, param, ctx):
        return [_seed(v, self, param, ctx) for v in super().convert(value, param, ctx)]


class ChunkParam(click.ParamType):
    """``--chunk``: ``auto`` or an integer (the library checks that it is at least 1)."""

    name = "auto|INTEGER"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value == "auto":
            return value
        try:
            return int(value)
        except (TypeError, ValueError):
            self.fail(f"must be auto or an integer, got {value}", param, ctx)
