"""Distance provenance: the distance's full identity in result files, and checks on reuse.

A distance is recorded as ``distance`` (its name, e.g. ``lpips-alex``) and
``distance_options`` (everything else that defines it: the LPIPS backbone as
``"pretrained"``, ``"random:SEED"`` or ``{"path", "sha256"}``, ``resize``, the LPIPS
version). The identity always comes from the distance object, never from a name typed
by a user, so a random backbone is never recorded as the pretrained one.
"""
from __future__ import annotations

from ..errors import InputError
from ..io import jsonable

#: meta keys that describe the distance
DISTANCE_KEYS = ("distance", "distance_options")


def distance_meta(D) -> dict:
    """``{"distance", "distance_options"}`` of a distance, for result files."""
    return jsonable({"distance": D.name, "distance_options": dict(getattr(D, "options", {}) or {})})


def describe_distance(D_or_meta) -> str:
    """The distance in a few words: ``lpips-alex (random backbone, seed 0)``, ``mse``, ..."""
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
        if key not in ("backbone", "resize", "version") and value is not None:
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
    """Every way distance ``D`` differs from the one ``meta`` records, in plain words."""
    here = distance_meta(D)
    if meta.get("distance") is None:
        return []
    if meta["distance"] != here["distance"]:
        return [f"distance {meta['distance']} there, {here['distance']} here"]
    there_opts, here_opts = dict(meta.get("distance_options") or {}), here["distance_options"]
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

    Raises:
        InputError: one line naming every difference.
    """
    diffs = distance_differences(meta, D)
    if diffs:
        raise InputError(f"{what} was made with another distance: " + "; ".join(diffs))


def load_recorded_distance(meta: dict, spec: str | None = None, *, device="cpu", dtype=None,
                           what: str = "the file", **options):
    """The distance a file's meta records, rebuilt; ``spec``/``options`` may restate it.

    Raises:
        InputError: the record names no distance and none is given, or what is given differs.
    """
    from . import load_distance
    if spec is None or spec == meta.get("distance"):
        rec_spec, rec_options = distance_spec_from_meta(meta) if meta.get("distance") else (spec, {})
        spec, options = rec_spec, {**rec_options, **{k: v for k, v in options.items() if v is not None}}
    if spec is None:
        raise InputError(f"{what} does not record which distance made it; name the distance")
    D = load_distance(spec, device=device, dtype=dtype, **options)
    check_same_distance(meta, D, what=what)
    return D
