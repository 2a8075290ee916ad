"""The registry of distances: a name (``mse``, ``lpips-alex``, ``layer:NAME``) -> a builder and its options.

A distance module registers its builder with :func:`register_distance` when it is imported
(``ganmetric.distances`` imports the built-in ones). Each option the builder takes is declared
once, as a :class:`DistanceOption`: its check, its help text, whether it changes the distance
(then it is recorded in result files under ``distance_options``) and whether it may name a
file (then a file's record never loads it by itself). ``load_distance``, ``DistanceSpec``, the
provenance checks and the command line's flags (``--lpips-backbone``, ``--resize``, ...) all
read the registry, so a new distance is one module with one registration.

This module imports no distance module, so every distance module can import it at its top.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..errors import InputError


def same_record(a, b) -> bool:
    """Recorded values agree: a file (``{"path", "sha256"}``) by its digest, anything else by equality."""
    if isinstance(a, dict) and isinstance(b, dict) and "sha256" in a:
        return a.get("sha256") == b.get("sha256")
    return a == b


def record_words(value) -> str:
    return f"{value.get('path')}" if isinstance(value, dict) and "path" in value else str(value)


@dataclass(frozen=True)
class DistanceOption:
    """One option of a distance: a keyword of ``load_distance`` and of the builder, and a shell flag.

    Attributes:
        name: the keyword (``resize``); the flag is ``--`` and the name with dashes (``--resize``).
        help: what it means, for ``--help`` and the docs.
        type: what the shell parses it as (``str``, ``int``, ``float``).
        default: the value the builder uses when the option is not given. Given at this value,
            the option is accepted by distances that do not take it.
        check: ``check(value) -> value`` the builder gets; raises ``InputError(argument=name)``.
        changes_distance: whether it changes the distance. Only such options are recorded
            in ``distance_options`` (with the value in effect), read back from a file's record and
            compared with it; an option that does not (a speed or memory knob) is never recorded.
        record_key: its key in ``distance_options`` (default: ``name``).
        file: it may name a file, recorded as ``{"path", "sha256"}``: a file's record never
            loads such a file by itself, the user names it again (checked by sha256).
        label: what the file is, in messages ("LPIPS backbone").
        same: ``same(recorded, here) -> bool`` (default: equality, a file by its sha256).
        describe: ``describe(recorded) -> words`` for one-line summaries (None: left out).
    """

    name: str
    help: str
    type: type = str
    default: Any = None
    check: Callable[[Any], Any] | None = None
    changes_distance: bool = True
    record_key: str | None = None
    file: bool = False
    label: str = ""
    same: Callable[[Any, Any], bool] = same_record
    describe: Callable[[Any], str | None] | None = None

    @property
    def key(self) -> str:
        """Its key in ``distance_options``."""
        return self.record_key or self.name

    def checked(self, value):
        """``value`` as the builder gets it (the default when None).

        Raises:
            InputError: the option's check refuses it (``argument`` is the option's name).
        """
        if value is None:
            return self.default
        return self.check(value) if self.check is not None else value

    def from_record(self, recorded):
        """The value that rebuilds a recorded one (a file's path for a file record)."""
        if self.file and isinstance(recorded, dict):
            return recorded.get("path")
        return recorded

    def words(self, recorded) -> str | None:
        """The recorded value in a few words for summaries, or None to leave it out."""
        if self.describe is not None:
            return self.describe(recorded)
        return None if recorded is None else f"{self.key.replace('_', ' ')} {record_words(recorded)}"


@dataclass(frozen=True)
class DistanceEntry:
    """A registered distance.

    Attributes:
        name: the spec (``mse``), or with ``argument`` the spec's prefix (``layer`` for ``layer:NAME``).
        build: ``build(spec, **options) -> Distance`` with the checked options (every declared
            one, at its default when not given).
        options: the options it takes.
        help: one line for ``--distance``'s help and the docs.
        argument: what follows ``name:`` in the spec (``NAME[,NAME2...]``), or None.
    """

    name: str
    build: Callable
    options: tuple[DistanceOption, ...] = ()
    help: str = ""
    argument: str | None = None

    @property
    def form(self) -> str:
        """How the spec is written: ``mse``, ``layer:NAME[,NAME2...]``."""
        return f"{self.name}:{self.argument}" if self.argument else self.name

    def matches(self, spec: str) -> bool:
        """Whether ``spec`` names this distance."""
        return spec.startswith(self.name + ":") if self.argument else spec == self.name

    def option(self, name: str) -> DistanceOption | None:
        """Its option called ``name``, or None."""
        return next((o for o in self.options if o.name == name), None)


DISTANCES: dict[str, DistanceEntry] = {}
"""Distance name -> its :class:`DistanceEntry`, in registration order (built in: ``mse``, ``lpips-*``, ``layer``)."""


def register_distance(name: str, *, options: tuple = (), help: str = "", argument: str | None = None):
    """Decorator: register ``build(spec, **options) -> Distance`` as distance ``name``.

    Args:
        name: the spec, e.g. ``"mse"``; with ``argument``, the prefix of ``name:ARGUMENT``.
        options: the :class:`DistanceOption` s the builder takes as keywords. An option of the
            same name as another distance's must be the same declaration (it is one flag).
        help: one line describing it.
        argument: what follows ``name:`` in the spec, for help texts (``NAME[,NAME2...]``).

    Raises:
        ValueError: ``name`` is empty or holds a colon, or an option clashes with another
            distance's declaration of the same name (a programming error, not bad input).
    """
    if not name or ":" in name:
        raise ValueError(f"a distance name must be non-empty without ':', got {name!r}")
    for option in options:
        other = shell_options().get(option.name)
        if other is not None and other[0] != option:
            raise ValueError(f"option {option.name} of distance {name} is declared differently by {other[1][0]}")

    def deco(build):
        DISTANCES[name] = DistanceEntry(name, build, tuple(options), help, argument)
        return build
    return deco


def registered(spec: str) -> DistanceEntry | None:
    """The registered entry ``spec`` names (exactly, or as ``name:ARGUMENT``), or None."""
    if not isinstance(spec, str):
        return None
    if spec in DISTANCES and DISTANCES[spec].argument is None:
        return DISTANCES[spec]
    return next((e for e in DISTANCES.values() if e.argument and e.matches(spec)), None)


def shell_options() -> dict[str, tuple[DistanceOption, list[str]]]:
    """Every option of the registered distances, once (what the command line makes flags of).

    Returns:
        Option name -> (its declaration, the forms of the distances taking it), in registration order.
    """
    out: dict[str, tuple[DistanceOption, list[str]]] = {}
    for entry in DISTANCES.values():
        for option in entry.options:
            out.setdefault(option.name, (option, []))[1].append(entry.form)
    return out


def check_options(entry: DistanceEntry, spec: str, options: dict) -> dict:
    """The builder's keywords: every option of ``entry`` checked (its default when not given).

    An option given as None counts as not given; an option of another distance given at its
    default value is accepted and ignored (``lpips_backbone="pretrained"`` with ``mse``).

    Raises:
        InputError: an option no distance takes, an option of other distances only (naming
            them), or a value its check refuses.
    """
    taken = {o.name for o in entry.options}
    known = shell_options()
    for name, value in options.items():
        if value is None or name in taken:
            continue
        if name not in known:
            valid = ", ".join(sorted(known)) or "none"
            raise InputError(f"{name} is not an option of any distance (the options are: {valid})", argument=name)
        option, owners = known[name]
        if value != option.default:
            raise InputError(f"{name} applies to {', '.join(owners)} only, not {spec}", argument=name)
    return {o.name: o.checked(options.get(o.name)) for o in entry.options}
