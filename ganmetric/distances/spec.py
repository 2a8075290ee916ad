"""Distance provenance: the distance's full identity in result files, and checks on reuse.

A distance is recorded as ``distance`` (its name, e.g. ``lpips-alex``) and
``distance_options`` (everything else that defines it: each option that changes it, as the
registry declares, e.g. the LPIPS backbone as ``"pretrained"``, ``"random:SEED"`` or
``{"path", "sha256"}`` and ``resize``, plus what the distance records itself, such as the
LPIPS version). The identity always comes from the distance object, never from a name typed
by a user, so a random backbone is never recorded as the pretrained one.

A file's record never decides what code runs or which file is loaded: it rebuilds a
registered distance by itself, but a recorded ``module.path:factory`` distance and a recorded
file (an LPIPS backbone) must be named by the user, and are then checked against the record.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InputError
from ..io import jsonable
from .custom import FORM, is_user_distance
from .load import load_distance
from .registry import same_record, record_words, registered

#: meta keys that describe the distance
DISTANCE_KEYS = ("distance", "distance_options")
DEFAULT_DISTANCE = "lpips-alex"
"""The distance used when none is named and no file records one."""


@dataclass(frozen=True)
class DistanceSpec:
    """A request for a distance: a name and options; what is left as None was not given.

    :meth:`over` fills what it leaves open from another spec (e.g. the one a result file
    records).

    Attributes:
        distance: a registered distance (``mse``, ``lpips-alex``, ``layer:NAME[,NAME2...]``, ...)
            or ``module.path:factory`` (None: the default, or the one a file records).
        options: the distance's options (``lpips_backbone``, ``resize``, ...); None values are
            dropped.
    """

    distance: str | None = None
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "options", {k: v for k, v in dict(self.options).items() if v is not None})

    @classmethod
    def from_meta(cls, meta: dict) -> "DistanceSpec":
        """The spec that rebuilds the distance a file's meta records (a file option gives its path).

        Raises:
            InputError: the meta records no distance.
        """
        name = meta.get("distance")
        if name is None:
            raise InputError("the file does not record which distance made it; name the distance",
                             argument="distance")
        entry, recorded = registered(name), dict(meta.get("distance_options") or {})
        options = {o.name: o.from_record(recorded[o.key]) for o in (entry.options if entry else ())
                   if o.changes_distance and recorded.get(o.key) is not None}
        return cls(name, options)

    def over(self, base: "DistanceSpec") -> "DistanceSpec":
        """This spec with what it leaves open taken from ``base`` (the same distance only)."""
        if self.distance is not None and base.distance is not None and self.distance != base.distance:
            return self
        return DistanceSpec(self.distance or base.distance, {**base.options, **self.options})

    def load(self, *, device="cpu", dtype=None, generator=None):
        """``load_distance`` with this spec (the default distance when none is named); ``generator``:
        the one a layer distance reads (its names are checked now; image distances ignore it)."""
        return load_distance(self.distance or DEFAULT_DISTANCE, device=device, dtype=dtype, generator=generator,
                             **self.options)


def distance_meta(D) -> dict:
    """The distance's identity as result files record it.

    Args:
        D: a :class:`~ganmetric.Distance`.

    Returns:
        ``{"distance", "distance_options"}`` (strict-JSON values).
    """
    return jsonable({"distance": D.name, "distance_options": dict(getattr(D, "options", {}) or {})})


def describe_distance(D_or_meta) -> str:
    """The distance in a few words: ``lpips-alex (random backbone, seed 0)``, ``mse``, ...

    Args:
        D_or_meta: a :class:`~ganmetric.Distance`, or a file's meta (its ``distance`` entries).

    Returns:
        One line for summaries.
    """
    meta = D_or_meta if isinstance(D_or_meta, dict) else distance_meta(D_or_meta)
    name, opts = meta.get("distance"), dict(meta.get("distance_options") or {})
    entry = registered(name)
    if entry is not None:  # its declared options (constants such as the LPIPS version, and names, left out)
        extra = [o.words(opts.get(o.key)) for o in entry.options if o.changes_distance]
    else:  # a user's distance: all of its record, digests cut short
        extra = [f"{k.replace('_', ' ')} {_short(v)}" for k, v in opts.items() if v is not None]
    extra = [e for e in extra if e]
    return f"{name} ({', '.join(extra)})" if extra else str(name)


def _short(value) -> str:
    text = record_words(value)
    return text[:12] if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else text


def distance_differences(meta: dict, D) -> list[str]:
    """Every way distance ``D`` differs from the one ``meta`` records, in plain words.

    Args:
        meta: a file's meta (its ``distance`` and ``distance_options``).
        D: a :class:`~ganmetric.Distance`.

    Returns:
        One phrase per difference (``"resize 256 there, None here"``); empty when they agree.
    """
    return recorded_distance_differences(meta, distance_meta(D))


def recorded_distance_differences(meta: dict, here: dict) -> list[str]:
    """Every way the distance recorded in ``here`` differs from the one ``meta`` records ("there")."""
    if meta.get("distance") is None or here.get("distance") is None:
        return []
    if meta["distance"] != here["distance"]:
        return [f"distance {meta['distance']} there, {here['distance']} here"]
    entry = registered(meta["distance"])
    declared = {o.key: o for o in entry.options} if entry is not None else {}
    there_opts, here_opts = dict(meta.get("distance_options") or {}), dict(here.get("distance_options") or {})
    diffs = []
    for key in sorted(set(there_opts) | set(here_opts)):
        a, b = there_opts.get(key), here_opts.get(key)
        same = declared[key].same if key in declared else same_record
        if not same(a, b):
            diffs.append(f"{key.replace('_', ' ')} {record_words(a)} there, {record_words(b)} here")
    return diffs


def check_same_distance(meta: dict, D, *, what: str = "the file") -> None:
    """Refuse a distance that is not the one a file's meta records.

    A file written when ``random`` backbones were not seeded (backbone ``"random"``) matches
    no distance: its random weights cannot be rebuilt.

    Args:
        meta: a file's meta.
        D: the :class:`~ganmetric.Distance` to check.
        what: how the message names the file.

    Raises:
        InputError: one line naming every difference.
    """
    diffs = distance_differences(meta, D)
    if diffs:
        raise InputError(f"{what} was made with another distance: " + "; ".join(diffs), argument="distance")


def load_recorded_distance(meta: dict, given: DistanceSpec | None = None, *, device="cpu", dtype=None,
                           what: str = "the file", generator=None):
    """The distance a file's meta records, rebuilt; ``given`` may restate it or its options.

    ``generator``: the generator a recorded layer distance reads (see
    :meth:`DistanceSpec.load`); the file's model is checked against it by the caller
    (:func:`ganmetric.generators.check_same_model`), as for every file.

    Args:
        meta: a file's meta.
        given: what the user restated (a :class:`DistanceSpec`), or None.
        device: where the distance runs.
        dtype: "float32" (default) or "float64".
        what: how messages name the file.
        generator: the generator a recorded layer distance reads.

    Returns:
        The :class:`~ganmetric.Distance`, checked against the record.

    Raises:
        InputError: the record names no distance and none is given; it records a backbone
            file that ``given`` does not name (see :func:`recorded_distance_spec`); or what is
            given differs from the record.
    """
    given = given or DistanceSpec()
    if meta.get("distance") is None and given.distance is None:
        raise InputError(f"{what} does not record which distance made it; name the distance", argument="distance")
    D = recorded_distance_spec(meta, given, what=what).load(device=device, dtype=dtype, generator=generator)
    check_same_distance(meta, D, what=what)
    return D


def recorded_distance_spec(meta: dict, given: DistanceSpec | None = None, *, what: str = "the file") -> DistanceSpec:
    """``given`` with what it leaves open taken from the distance ``meta`` records (if any).

    A record never makes ganmetric run code or read a file the user did not name: a recorded
    ``module.path:factory`` distance must be named (``given.distance``), and a recorded file
    option (an LPIPS backbone file) must be passed again (checked by sha256 against the
    record), as for a model and its weights file.

    Args:
        meta: a file's meta.
        given: what the user restated (a :class:`DistanceSpec`), or None.
        what: how messages name the file.

    Returns:
        The :class:`DistanceSpec` to load.

    Raises:
        InputError: the record names a distance that is not registered (a user's
            ``module.path:factory``) and ``given`` names none, or a file that ``given`` (for
            the same distance) does not name.
    """
    given = given or DistanceSpec()
    name = meta.get("distance")
    if name is None:
        return given
    entry = registered(name)
    if given.distance is None and entry is None:
        kind = f"your own code, {FORM}" if is_user_distance(name) else "not one of the distances known here"
        raise InputError(f"{what} was made with {name} ({kind}); ganmetric rebuilds only built-in distances from a "
                         f"file's record: if you trust it, name it yourself (--distance {name})", argument="distance")
    recorded = meta.get("distance_options") or {}
    for option in entry.options if entry is not None and given.distance in (None, name) else ():
        file = recorded.get(option.key)
        if option.file and isinstance(file, dict) and option.name not in given.options:
            digest = f" (sha256 {file['sha256'][:12]})" if file.get("sha256") else ""
            raise InputError(f"{what} records the {option.label or option.name} file {file.get('path')}{digest}; "
                             f"ganmetric loads a weights file only when you name it: pass "
                             f"--{option.name.replace('_', '-')} {file.get('path')} (the same file, checked by "
                             f"sha256)", argument=option.name)
    return given.over(DistanceSpec.from_meta(meta))
