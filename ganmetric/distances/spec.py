"""Distance provenance: the distance's full identity in result files, and checks on reuse.

A distance is recorded as ``distance`` (its name, e.g. ``lpips-alex``) and
``distance_options`` (everything else that defines it: the LPIPS backbone as
``"pretrained"``, ``"random:SEED"`` or ``{"path", "sha256"}``, ``resize``, the LPIPS
version). The identity always comes from the distance object, never from a name typed
by a user, so a random backbone is never recorded as the pretrained one.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError
from ..io import jsonable

#: meta keys that describe the distance
DISTANCE_KEYS = ("distance", "distance_options")
DEFAULT_DISTANCE = "lpips-alex"
"""The distance used when none is named and no file records one."""


@dataclass(frozen=True)
class DistanceSpec:
    """A request for a distance; fields left as None were not given.

    Attributes:
        distance: ``mse``, ``lpips-alex``, ``lpips-vgg``, ``lpips-squeeze``, ``layer:NAME[,NAME2...]``
            (None: the default, or the one a file records).
        lpips_backbone: "pretrained", "random", "random:SEED" or a path (LPIPS only).
        resize: square side the images are resized to first (LPIPS only).
    """

    distance: str | None = None
    lpips_backbone: str | None = None
    resize: int | None = None

    @classmethod
    def from_meta(cls, meta: dict) -> "DistanceSpec":
        """The spec that rebuilds the distance a file's meta records."""
        name, options = distance_spec_from_meta(meta)
        return cls(name, options.get("lpips_backbone"), options.get("resize"))

    def over(self, base: "DistanceSpec") -> "DistanceSpec":
        """This spec with what it leaves open taken from ``base`` (the same distance only)."""
        if self.distance is not None and base.distance is not None and self.distance != base.distance:
            return self
        return DistanceSpec(self.distance or base.distance, self.lpips_backbone or base.lpips_backbone,
                            self.resize if self.resize is not None else base.resize)

    def load(self, *, device="cpu", dtype=None, generator=None):
        """``load_distance`` with this spec (the default distance when none is named); ``generator``:
        the one a layer distance reads (its names are checked now; image distances ignore it)."""
        from . import load_distance
        return load_distance(self.distance or DEFAULT_DISTANCE, device=device, dtype=dtype,
                             lpips_backbone=self.lpips_backbone, resize=self.resize, generator=generator)


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
    extra = []
    backbone = opts.get("backbone")
    if isinstance(backbone, str) and backbone.startswith("random"):
        extra.append(f"random backbone, seed {backbone.partition(':')[2] or 0}")
    elif isinstance(backbone, dict):
        extra.append(f"backbone {backbone.get('path')}")
    if opts.get("resize"):
        extra.append(f"resized to {opts['resize']} px")
    for key, value in opts.items():
        if key not in ("backbone", "resize", "version", "layers") and value is not None:  # layers: in the name
            extra.append(f"{key.replace('_', ' ')} {value}")
    return f"{name} ({', '.join(extra)})" if extra else str(name)


def distance_spec_from_meta(meta: dict) -> tuple[str, dict]:
    """``(spec, options)`` for :func:`~ganmetric.distances.load_distance` that rebuild a recorded distance.

    Raises:
        InputError: the meta records no distance.
    """
    name = meta.get("distance")
    if name is None:
        raise InputError("the file does not record which distance made it; name the distance")
    opts = dict(meta.get("distance_options") or {})
    options = {}
    backbone = opts.get("backbone")
    if backbone is not None:
        options["lpips_backbone"] = backbone["path"] if isinstance(backbone, dict) else backbone
    if opts.get("resize") is not None:
        options["resize"] = opts["resize"]
    return name, options


def _same_backbone(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.get("sha256") == b.get("sha256")
    if a == "random" or b == "random":  # files written before random backbones were seeded
        return False
    return a == b


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
    there_opts, here_opts = dict(meta.get("distance_options") or {}), dict(here.get("distance_options") or {})
    diffs = []
    for key in sorted(set(there_opts) | set(here_opts)):
        a, b = there_opts.get(key), here_opts.get(key)
        if not (_same_backbone(a, b) if key == "backbone" else a == b):
            show = lambda v: v.get("path") if isinstance(v, dict) else v  # noqa: E731
            diffs.append(f"{key.replace('_', ' ')} {show(a)} there, {show(b)} here")
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
        raise InputError(f"{what} was made with another distance: " + "; ".join(diffs))


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
        raise InputError(f"{what} does not record which distance made it; name the distance")
    D = recorded_distance_spec(meta, given, what=what).load(device=device, dtype=dtype, generator=generator)
    check_same_distance(meta, D, what=what)
    return D


def recorded_distance_spec(meta: dict, given: DistanceSpec | None = None, *, what: str = "the file") -> DistanceSpec:
    """``given`` with what it leaves open taken from the distance ``meta`` records (if any).

    A recorded LPIPS backbone file is never loaded because the record names it: the user
    passes it (``given.lpips_backbone``, checked by sha256 against the record), as for a
    model's weights file.

    Args:
        meta: a file's meta.
        given: what the user restated (a :class:`DistanceSpec`), or None.
        what: how messages name the file.

    Returns:
        The :class:`DistanceSpec` to load.

    Raises:
        InputError: the record holds a backbone file and ``given`` (for the same distance)
            does not name one.
    """
    given = given or DistanceSpec()
    if meta.get("distance") is None:
        return given
    backbone = (meta.get("distance_options") or {}).get("backbone")
    same = given.distance is None or given.distance == meta.get("distance")
    if same and isinstance(backbone, dict) and given.lpips_backbone is None:
        digest = f" (sha256 {backbone['sha256'][:12]})" if backbone.get("sha256") else ""
        raise InputError(f"{what} records the LPIPS backbone file {backbone.get('path')}{digest}; ganmetric loads "
                         f"a weights file only when you name it: pass --lpips-backbone {backbone.get('path')} (the "
                         f"same file, checked by sha256)")
    return given.over(DistanceSpec.from_meta(meta))
