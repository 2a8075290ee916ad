"""``compare_paths``: the geodesic, the straight line and SLERP between the same two codes, side by side."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import torch

from .. import checks
from ..errors import InputError
from ..placement import check_same_dtype, placement
from ..precision import exact_float32
from .energy import needs_features
from .geodesic import GeodesicOptions, geodesic_options, run_geodesic
from .interpolation import INTERPOLATIONS, endpoints
from .measure import measured

PATH_METHODS = {
    "geodesic": "the discrete geodesic: least energy E = T sum_i s_i^2 under the distance (equal steps)",
    "linear": "the straight line in z, evenly spaced",
    "slerp": "spherical interpolation (great circle at constant angular speed)",
}
"""Path methods, name -> what it is (the CLI's --method help and error messages read it)."""
#: options of the geodesic alone
GEODESIC_OPTIONS = ("init", "prior_weight", "refine", "optimizer", "max_iter", "tol")


def path_methods(methods) -> tuple[str, ...]:
    """Methods as a tuple of known names, in the order given, each once.

    Args:
        methods: a sequence of names, or one string of names separated by commas.

    Returns:
        The names of :data:`PATH_METHODS`, in the order given, each once.

    Raises:
        InputError: an unknown name or none at all.
    """
    names = [m.strip() for m in methods.split(",")] if isinstance(methods, str) else [str(m) for m in methods]
    names = [m for m in names if m]
    if not names:
        raise InputError(f"methods is empty; choose from {{{', '.join(PATH_METHODS)}}}", argument="methods")
    for name in names:
        checks.one_of("methods", name, PATH_METHODS, what="method")
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class PathPlan:
    """A checked comparison, made by :func:`prepare_paths`, run by :func:`run_paths`.

    Attributes:
        G: the generator.
        D: the distance.
        z_a: the first endpoint, shape (n,), on G's device and dtype.
        z_b: the second endpoint, shape (n,), on G's device and dtype.
        methods: the path methods in order.
        options: the geodesic's checked options (its ``final_points`` is every path's number of codes).
        baselines: the straight-line and SLERP codes, made already (name -> (points, n) codes).
    """

    G: object
    D: object
    z_a: torch.Tensor
    z_b: torch.Tensor
    methods: tuple
    options: GeodesicOptions
    baselines: dict

    def record(self) -> dict:
        """What made the paths, for summary files: the methods, points and chunk, and the
        geodesic's options when it is among the methods."""
        opts = self.options.record()
        if "geodesic" not in self.methods:
            opts = {k: opts[k] for k in ("points", "final_points", "chunk")}
        return {"methods": list(self.methods), **opts}


@exact_float32
def prepare_paths(G, D, z_a, z_b, *, methods=tuple(PATH_METHODS), points: int = 16, init: str | None = None,
                  prior_weight: float | None = None, refine: int | None = None, optimizer: str | None = None,
                  max_iter: int | None = None, tol: float | None = None, chunk: int | None = None) -> PathPlan:
    """Check every input of :func:`compare_paths` and make the baselines' codes (quick; nothing
    goes through the generator).

    Args:
        G, D, z_a, z_b, methods, points, init, prior_weight, refine, optimizer, max_iter, tol, chunk: as for
            :func:`compare_paths`.

    Returns:
        The :class:`PathPlan` that :func:`run_paths` runs.

    Raises:
        InputError: see :func:`compare_paths`.
    """
    methods = path_methods(methods)
    given = {"init": init, "prior_weight": prior_weight, "refine": refine, "optimizer": optimizer,
             "max_iter": max_iter, "tol": tol}
    unused = [name for name in GEODESIC_OPTIONS if given[name] is not None]
    if "geodesic" not in methods and unused:
        one = len(unused) == 1  # the subject is the argument blamed; several are all named as the front end names them
        names = unused[0] if one else ", ".join(f"{{{name}}}" for name in unused)
        raise InputError(f"{names} {'applies' if one else 'apply'} to the geodesic only; add geodesic to {{methods}} "
                         f"or leave {'it' if one else 'them'} out", argument=unused[0],
                         mentions=("methods",) if one else (*unused, "methods"))
    opts = geodesic_options(points=points, chunk=chunk, **given)
    if "geodesic" in methods:
        needs_features(D)
    check_same_dtype(G, D)
    a, b = endpoints(z_a, z_b, int(G.latent_dim))
    place = placement(G)
    # the baselines' codes now: slerp's refusals (a zero or opposite endpoint) come before any long work
    baselines = {m: INTERPOLATIONS[m](a, b, opts.final_points).to(**place) for m in methods if m != "geodesic"}
    return PathPlan(G, D, a.to(**place), b.to(**place), methods, opts, baselines)


@exact_float32
def run_paths(plan: PathPlan, *, progress: bool = False, stop=None) -> dict:
    """Make and measure the paths of a prepared comparison.

    ``stop()`` is asked before each path and each iteration of the geodesic; when it returns
    True the paths made so far are returned (an interrupted geodesic as it stands, its last
    stage's ``stop_reason`` "interrupted"), without the methods not yet started.

    Args:
        plan: the :class:`PathPlan` (from :func:`prepare_paths`).
        progress: show a progress bar for the geodesic.
        stop: a callable asked whether to stop early, or None.

    Returns:
        ``{method: LatentPath}`` in the plan's order.
    """
    out = {}
    for method in plan.methods:
        if stop is not None and stop():
            break
        t0 = time.perf_counter()
        if method == "geodesic":
            out[method] = run_geodesic(plan.G, plan.D, plan.z_a, plan.z_b, plan.options, progress=progress, stop=stop)
        else:
            path = measured(method, plan.G, plan.D, plan.baselines[method], plan.options.chunk)
            out[method] = replace(path, seconds=time.perf_counter() - t0)
    return out


def compare_paths(G, D, z_a, z_b, *, methods=tuple(PATH_METHODS), points: int = 16, init: str | None = None,
                  prior_weight: float | None = None, refine: int | None = None, optimizer: str | None = None,
                  max_iter: int | None = None, tol: float | None = None, chunk: int | None = None,
                  progress: bool = False) -> dict:
    """Paths between two codes by several methods, measured under one distance.

    Every method gets the same number of codes: the geodesic's after refinement,
    ``(points - 1) * 2^refine + 1``, so steps and montages line up.
    ``run_paths(prepare_paths(...))``: prepare checks everything first.

    Args:
        G: a :class:`~ganmetric.Generator`.
        D: a :class:`~ganmetric.Distance` (with features when "geodesic" is among the methods).
        z_a, z_b: the endpoints, shape (n,) or (1, n).
        methods: names of :data:`PATH_METHODS` (or one comma-separated string).
        points: codes of each path (before refinement), >= 3.
        init, prior_weight, refine, optimizer, max_iter, tol: the geodesic's options (see
            :func:`~ganmetric.geodesic`; None: its default). Refused without "geodesic".
        chunk: codes per generator pass.
        progress: show a progress bar for the geodesic.

    Returns:
        ``{method: LatentPath}`` in the order of ``methods``.

    Raises:
        InputError: everything :func:`~ganmetric.geodesic` refuses, an unknown method, or a
            geodesic option given without "geodesic" among the methods.
    """
    plan = prepare_paths(G, D, z_a, z_b, methods=methods, points=points, init=init, prior_weight=prior_weight,
                         refine=refine, optimizer=optimizer, max_iter=max_iter, tol=tol, chunk=chunk)
    return run_paths(plan, progress=progress)
