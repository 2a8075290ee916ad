"""Everything a black-box run needs, checked before any image is scored: :func:`prepare_optimization`.

Defaults, for GAN latents (docs/optimize.md gives the reasons):

- ``sigma0 = 0.5``, relative to the prior's scale (1 for a standard normal prior; for other
  priors, such as StyleGAN2's w, the RMS spread of 1000 prior samples per coordinate): the
  first generation's codes lie about ``0.5 sqrt(n)`` from the start, a third of the distance
  between two prior samples, with norms about ``sqrt(1.25)`` times the prior's typical norm,
  inside the region the generator was trained on.
- ``popsize = 4 + floor(3 ln n)`` with n the latent size (pycma's default for an n-d search;
  17 for n = 100), the same for every method, so that all make the same number of
  generations within a budget.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import checks
from ..basis import basis_meta, resolve_basis
from ..errors import InputError
from ..generators.base import Generator
from ..io import sha256_file
from ..precision import exact_float32
from .methods import METHODS
from .objectives import Objective, load_objective

DEFAULT_SIGMA0 = 0.5
DEFAULT_TOP = 50
DEFAULT_EIGVAL_POWER = 0.5
#: what summary.json copies from a basis file's meta: the model (checked against the generator) and how it was made
RECORDED = ("format", "kind", "model", "latent_space", "latent_dim", "model_options", "distance", "distance_options",
            "method", "n_points")
#: samples used to measure the scale of a prior that is not standard normal
PRIOR_SAMPLES = 1000


@dataclass(frozen=True)
class Arm:
    """One method with its options, run for every seed of a comparison.

    Attributes:
        method: a name in :data:`~ganmetric.blackbox.METHODS`.
        label: its name in files, tables and plots (default: the method; letters, digits, ``.``,
            ``_``, ``-`` and ``=``).
        top: hess-cma only: how many basis directions (default: the comparison's ``top``).
        eigval_power: hess-cma only: p (default: the comparison's ``eigval_power``).
    """

    method: str
    label: str | None = None
    top: int | None = None
    eigval_power: float | None = None


@dataclass(frozen=True)
class Setup:
    """One run's inputs (made by :class:`Plan`): what a searcher is built from."""

    G: Generator
    method: str
    seed: int
    z_init: np.ndarray
    budget: int
    popsize: int
    sigma: float
    basis: np.ndarray | None = None


@dataclass(frozen=True)
class Plan:
    """A checked comparison: arms x seeds, each run the same budget from the same starting points.

    Attributes:
        G: the generator.
        objective: the :class:`Objective`.
        arms: list of dicts (label, method, top, eigval_power, basis info), in order.
        bases: label -> (n, k) float64 basis matrix B (hess-cma arms).
        seeds: the seeds.
        z_inits: seed -> (n,) float64 starting code.
        budget, popsize, batch: images scored per run, per generation, per objective call (None: all).
        sigma: the absolute initial step in z (sigma0 x prior_scale).
        maximize: True to maximise the objective's scores.
        settings: everything above that defines the runs, JSON-ready.
    """

    G: Generator
    objective: Objective
    arms: list
    bases: dict
    seeds: list
    z_inits: dict
    budget: int
    popsize: int
    batch: int | None
    sigma: float
    maximize: bool
    settings: dict = field(default_factory=dict)

    def setup(self, label: str, seed: int) -> Setup:
        arm = next(a for a in self.arms if a["label"] == label)
        return Setup(self.G, arm["method"], seed, self.z_inits[seed], self.budget, self.popsize, self.sigma,
                     self.bases.get(label))


def prior_scale(G) -> float:
    """The scale of the generator's prior, which ``sigma0`` is relative to.

    Args:
        G: the generator.

    Returns:
        1 for a standard normal prior (a generator that keeps :meth:`Generator.sample`); otherwise the
        RMS over coordinates of the spread (standard deviation) of 1000 prior samples.
    """
    if type(G).sample is Generator.sample:
        return 1.0
    z = G.sample(PRIOR_SAMPLES, seed=0).detach().double().cpu()
    return float(z.var(dim=0).mean().sqrt())


def default_popsize(n: int) -> int:
    """pycma's default population for an n-dimensional search.

    Args:
        n: the search's dimension (the full latent size, for every method).

    Returns:
        4 + floor(3 ln n).
    """
    return 4 + int(3 * math.log(n))


def _label(arm: Arm) -> str:
    label = arm.label or arm.method
    if not label or any(not (ch.isalnum() or ch in "._-=") for ch in label):
        raise InputError(f"a method label may hold only letters, digits and . _ - =, got {label}",
                         argument="methods")
    return label


def _arms(methods, top, eigval_power) -> list[Arm]:
    """Arms from names or :class:`Arm` objects, with checked methods and unique labels."""
    if isinstance(methods, (str, Arm)):
        methods = [methods]
    arms = [m if isinstance(m, Arm) else Arm(checks.one_of("methods", str(m), METHODS, what="method")) for m in methods]
    if not arms:
        raise InputError("methods must name at least one method", argument="methods")
    labels = []
    for arm in arms:
        checks.one_of("methods", arm.method, METHODS, what="method")
        if arm.method != "hess-cma" and (arm.top is not None or arm.eigval_power is not None):
            raise InputError(f"top and eigval_power apply to hess-cma only, not to {arm.method}", argument="methods")
        labels.append(_label(arm))
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise InputError(f"methods lists {', '.join(dup)} more than once (give each arm its own label)",
                         argument="methods")
    if not any(a.method == "hess-cma" for a in arms) and (top is not None or eigval_power is not None):
        name = "top" if top is not None else "eigval_power"
        raise InputError(f"{name} applies to hess-cma only, and no hess-cma is run", argument=name)
    return arms


def _seeds(seeds) -> list[int]:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        return list(range(checks.positive_int("seeds", seeds)))
    out = [checks.seed("seeds", s) for s in seeds]
    if not out or len(set(out)) != len(out):
        raise InputError(f"seeds must be a count or distinct non-negative integers, got {out}", argument="seeds")
    return out


def _z_inits(G, z_init, seeds: list[int]) -> tuple[dict, str]:
    """seed -> starting code (float64 (n,)): a prior sample per seed, or the given codes."""
    if z_init is None:
        return {s: G.sample(1, seed=s)[0].detach().double().cpu().numpy() for s in seeds}, "prior"
    Z = checks.latent_codes("z_init", z_init, int(G.latent_dim)).detach().double().cpu().numpy()
    if len(Z) not in (1,) and len(Z) < len(seeds):
        raise InputError(f"z_init holds {len(Z)} codes for {len(seeds)} seeds: give one code (shared) or at least "
                         f"one per seed", argument="z_init")
    return {s: Z[0 if len(Z) == 1 else j] for j, s in enumerate(seeds)}, f"given ({len(Z)} code(s))"


def _bases(G, arms: list[Arm], basis, top, eigval_power, eigval_floor) -> tuple[dict, dict]:
    """label -> B (n, k) float64 for every hess-cma arm, and label -> what the basis is."""
    n = int(G.latent_dim)
    hess = [a for a in arms if a.method == "hess-cma"]
    if basis is not None and not hess:
        raise InputError("basis is used only by hess-cma, and no hess-cma is run", argument="basis")
    if hess and basis is None:
        raise InputError("hess-cma needs a basis: a metric result or average (file or MetricResult), an axes "
                         "file or an (n, k) matrix", argument="basis")
    bases, info, full = {}, {}, {}
    for arm in hess:
        k = checks.positive_int("top", arm.top if arm.top is not None else (top or DEFAULT_TOP))
        if k > n:
            raise InputError(f"top must be at most the latent size {n}, got {k}", argument="top")
        p = checks.finite_float("eigval_power", arm.eigval_power if arm.eigval_power is not None else
                                (DEFAULT_EIGVAL_POWER if eigval_power is None else eigval_power))
        if p not in full:  # one resolution per power: the scale s_i does not depend on k
            full[p] = resolve_basis(basis, G, eigval_power=p, eigval_floor=eigval_floor, dtype=torch.float64)
        B, where = full[p]
        if k > B.shape[1]:
            raise InputError(f"top must be at most {B.shape[1]}, the directions the basis ({where['basis']}) holds, "
                             f"got {k}", argument="top")
        B = B[:, :k].detach().cpu().numpy()
        label = _label(arm)
        bases[label] = B
        norms = np.linalg.norm(B, axis=0)
        info[label] = {"basis_source": where["basis"], "top": k, "eigval_power": p, "eigval_floor": eigval_floor,
                       "scale_min": float(norms.min()), "scale_max": float(norms.max())}
    return bases, info


def _basis_record(basis) -> dict | None:
    """What summary.json records about a basis: its file, digest and the model and distance the file records."""
    if basis is None:
        return None
    if not isinstance(basis, (str, Path)):
        meta = dict(getattr(basis, "meta", None) or {})
        return {"file": None, "given": type(basis).__name__,
                **{k: meta[k] for k in RECORDED if k in meta}}
    meta = basis_meta(basis)
    return {"file": str(basis), "sha256": sha256_file(basis), **{k: meta[k] for k in RECORDED if k in meta}}


@exact_float32
def prepare_optimization(G, objective, methods=("random", "cma"), *, seeds=1, basis=None, top: int | None = None,
                         eigval_power: float | None = None, eigval_floor: float = 1e-6, budget: int = 3000,
                         sigma0: float = DEFAULT_SIGMA0, popsize: int | None = None, batch: int | None = None,
                         minimize: bool = False, z_init=None, distance=None, objective_weights=None,
                         max_pixels: int | None = None) -> Plan:
    """Check every input of a comparison and build its :class:`Plan`; nothing is scored.

    Args:
        G: the generator.
        objective: a spec, a callable or an :class:`Objective` (see :func:`load_objective`).
        methods: names in :data:`METHODS` or :class:`Arm` objects (several hess-cma arms need labels).
        seeds: a count (seeds 0..N-1) or a list of distinct non-negative integers.
        basis: hess-cma's directions: a result or average (file or MetricResult), axes, or an (n, k) matrix.
        top: hess-cma's k (default 50; at most n and the basis' directions).
        eigval_power: hess-cma's p in s_i = (lambda_i / lambda_1)^-p (default 0.5).
        eigval_floor: eigenvalues below this fraction of lambda_1 are raised to it (bounds s).
        budget: images scored per run, exactly (at least one population).
        sigma0: initial step relative to the prior's scale (see the module docstring).
        popsize: codes per generation (default 4 + floor(3 ln n)).
        batch: at most this many images per objective call (default: the whole generation).
        minimize: minimise the scores instead of maximising them.
        z_init: starting codes: None (a prior sample per seed, ``G.sample(1, seed)``), one code
            (n,) for every seed, or (N, n) with a row per seed.
        distance, objective_weights, max_pixels: passed to :func:`load_objective` (image: and unit:
            objectives).

    Returns:
        The :class:`Plan`: arms, bases, seeds, starting codes and settings, all checked.

    Raises:
        InputError: an unknown method or objective, a label twice, hess-cma without a basis or
            a basis without hess-cma, a basis made for another model or latent size, top above
            n or the basis' directions, a budget below one population, bad seeds, sigma0,
            popsize, batch or starting codes.
        WeightsError: the objective's network weights cannot be obtained.
    """
    arms = _arms(methods, top, eigval_power)
    seed_list = _seeds(seeds)
    n = int(G.latent_dim)
    pop = default_popsize(n) if popsize is None else checks.integer("popsize", popsize, minimum=2)
    budget = checks.positive_int("budget", budget)
    if budget < pop:
        raise InputError(f"budget must be at least one population ({pop} codes per generation), got {budget}",
                         argument="budget")
    sigma0 = checks.positive_float("sigma0", sigma0)
    batch = None if batch is None else checks.positive_int("batch", batch)
    floor = checks.positive_float("eigval_floor", eigval_floor)
    bases, basis_info = _bases(G, arms, basis, top, eigval_power, floor)
    z_inits, init = _z_inits(G, z_init, seed_list)
    obj = load_objective(objective, G, distance=distance, weights=objective_weights, max_pixels=max_pixels)
    scale = prior_scale(G)
    arm_dicts = [{"label": _label(a), "method": a.method, **basis_info.get(_label(a), {})} for a in arms]
    settings = {"budget": budget, "popsize": pop, "sigma0": sigma0, "prior_scale": scale, "sigma": sigma0 * scale,
                "batch": batch, "maximize": not minimize, "seeds": seed_list, "init": init,
                "basis": _basis_record(basis)}
    return Plan(G, obj, arm_dicts, bases, seed_list, z_inits, budget, pop, batch, sigma0 * scale, not minimize,
                settings)
