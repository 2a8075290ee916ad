"""The run loop: generations of ask / score / tell within an exact budget, for every arm and seed.

Budget: a run scores exactly ``budget`` images, never more. Each generation asks the
searcher for ``popsize`` codes; when fewer than ``popsize`` evaluations are left, the last
generation scores only the first ``budget mod popsize`` of them and the searcher is not
updated with it (nothing follows it). Images are generated and scored ``batch`` at a time
(default: the whole generation in one call to the objective).

Stopping: ``stop()`` is asked before every generation; when it returns True the run ends
there, keeping everything scored so far (the CLI sets it from Ctrl-C). An objective that
raises or returns anything but one finite score per image ends the run too, keeping what it
scored: :func:`optimize` raises :class:`ObjectiveError` carrying the partial result,
:func:`compare` stops and returns what it has with the error's line.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .._progress import progress_bar
from ..placement import cpu_tensor, placement
from ..precision import exact_float32
from .methods import METHODS, initial_sigma
from .objectives import ObjectiveError
from .plan import Plan, Setup, prepare_optimization

#: per-generation trace columns
TRACE_KEYS = ("generation", "evaluations", "scored", "best_so_far", "mean", "best", "sigma")


@dataclass(frozen=True)
class OptimizationResult:
    """One run of one method from one seed (arrays on the CPU).

    Attributes:
        method: the method's name.
        label: the arm's label.
        seed: the run's seed.
        z: (n,) the best code found (None if nothing was scored).
        image: (C, H, W) its image in [-1, 1].
        score: its score, as the objective returned it (None if nothing was scored).
        z_init: (n,) the starting code.
        scores: (evaluations,) every score, in the order the codes were scored.
        trace: per generation (arrays of equal length): ``generation``, ``evaluations`` (scored
            so far), ``scored`` (in this generation), ``best_so_far``, ``mean`` and ``best``
            (of this generation), ``sigma`` (the searcher's step when it asked; NaN for random).
        restarts: CMA restarts: ``{"after_generation", "reasons"}`` each.
        maximize: whether higher scores are better.
        settings: what defines the run (budget, popsize, sigma0, sigma, basis, top, eigval_power...).
        seconds: wall time.
        stopped: None (the budget was spent), "interrupted", or the objective error's line.
    """

    method: str
    label: str
    seed: int
    z: torch.Tensor | None
    image: torch.Tensor | None
    score: float | None
    z_init: torch.Tensor
    scores: np.ndarray
    trace: dict
    restarts: list = field(default_factory=list)
    maximize: bool = True
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0
    stopped: str | None = None

    @property
    def evaluations(self) -> int:
        """Images scored."""
        return int(len(self.scores))

    def best_so_far(self) -> np.ndarray:
        """(evaluations,) the best score after each evaluation."""
        acc = np.maximum.accumulate if self.maximize else np.minimum.accumulate
        return acc(self.scores) if len(self.scores) else self.scores

    def summary(self) -> dict:
        """JSON-ready: label, method, seed, best score, evaluations, generations, restarts, stop reason, time."""
        return {"label": self.label, "method": self.method, "seed": self.seed, "best_score": self.score,
                "evaluations": self.evaluations, "generations": int(len(self.trace["generation"])),
                "restarts": self.restarts, "stopped": self.stopped, "seconds": self.seconds}


def _score(plan: Plan, codes: np.ndarray, out: list) -> None:
    """Score codes ``batch`` at a time, appending each batch's scores to ``out`` (kept if a later one fails)."""
    step = plan.batch or len(codes)
    for lo in range(0, len(codes), step):
        z = cpu_tensor(np.ascontiguousarray(codes[lo:lo + step])).to(**placement(plan.G))
        with torch.no_grad():
            images = plan.G(z)
        out.append(plan.objective(images))


class _Record:
    """The running record of one run: every score, the best code, the per-generation trace."""

    def __init__(self, maximize: bool):
        self.sign = 1.0 if maximize else -1.0
        self.scores: list[np.ndarray] = []
        self.best = (-np.inf, None, None)  # (sign * score, score, code)
        self.trace = {key: [] for key in TRACE_KEYS}

    def add(self, codes: np.ndarray, scores: np.ndarray, sigma) -> None:
        if not len(scores):
            return
        self.scores.append(scores)
        i = int(np.argmax(self.sign * scores))
        if self.sign * scores[i] > self.best[0]:
            self.best = (self.sign * scores[i], float(scores[i]), codes[i].copy())
        t = self.trace
        t["generation"].append(len(t["generation"]))
        t["evaluations"].append((t["evaluations"][-1] if t["evaluations"] else 0) + len(scores))
        t["scored"].append(len(scores))
        t["best_so_far"].append(self.best[1])
        t["mean"].append(float(scores.mean()))
        t["best"].append(float(scores[i]))
        t["sigma"].append(np.nan if sigma is None else float(sigma))

    @property
    def evaluated(self) -> int:
        return int(sum(len(s) for s in self.scores))


def _generation(plan: Plan, searcher, record: _Record) -> None:
    """Ask, score (only as many as the budget allows), and tell a full generation.

    Raises:
        ObjectiveError: after recording whatever was scored before the objective failed.
    """
    sigma = searcher.sigma
    X = searcher.ask()
    count = min(len(X), plan.budget - record.evaluated)
    codes = searcher.codes(X[:count])
    got: list[np.ndarray] = []
    try:
        _score(plan, codes, got)
    finally:
        scores = np.concatenate(got) if got else np.zeros(0)
        record.add(codes[:len(scores)], scores, sigma)
    if count == len(X):
        searcher.tell(X, -record.sign * scores)


def _finish(plan: Plan, setup: Setup, label: str, searcher, record: _Record, seconds: float,
            stopped: str | None) -> OptimizationResult:
    z = image = None
    if record.best[2] is not None:
        z = cpu_tensor(record.best[2])
        with torch.no_grad():
            image = plan.G(z[None].to(**placement(plan.G)))[0].detach().cpu()
    arm = next(a for a in plan.arms if a["label"] == label)
    settings = {**plan.settings, **{k: v for k, v in arm.items() if k != "label"},
                "seed": setup.seed, "sigma_start": initial_sigma(setup)}
    settings.pop("seeds", None)
    trace = {k: np.asarray(v, dtype=np.float64 if k in ("best_so_far", "mean", "best", "sigma") else np.int64)
             for k, v in record.trace.items()}
    return OptimizationResult(setup.method, label, setup.seed, z, image, record.best[1],
                              cpu_tensor(setup.z_init), np.concatenate(record.scores) if record.scores else
                              np.zeros(0), trace, list(getattr(searcher, "restarts", [])), plan.maximize,
                              settings, seconds, stopped)


@exact_float32
def run_one(plan: Plan, label: str, seed: int, *, stop=None, progress: bool = False) -> OptimizationResult:
    """Run one arm of a plan from one seed.

    Args:
        plan: the :class:`Plan` (from :func:`prepare_optimization`).
        label: the arm's label.
        seed: one of the plan's seeds.
        stop: called before each generation; True ends the run, keeping what it has.
        progress: a progress bar.

    Returns:
        The :class:`OptimizationResult` (``stopped`` says whether it ended early).

    Raises:
        ObjectiveError: the objective failed; its ``result`` holds what was scored before.
    """
    t0 = time.perf_counter()
    setup = plan.setup(label, seed)
    searcher = METHODS[setup.method].make(setup)
    record = _Record(plan.maximize)
    bar = progress_bar(range(0), enable=progress, total=plan.budget, desc=f"{label} seed {seed}", unit="img")
    stopped, error = None, None
    try:
        while record.evaluated < plan.budget:
            if stop is not None and stop():
                stopped = "interrupted"
                break
            before = record.evaluated
            _generation(plan, searcher, record)
            if progress:
                bar.update(record.evaluated - before)
                bar.set_postfix(best=f"{record.best[1]:.4g}")
    except ObjectiveError as exc:
        stopped, error = str(exc), exc
    finally:
        if progress:
            bar.close()
    result = _finish(plan, setup, label, searcher, record, time.perf_counter() - t0, stopped)
    if error is not None:
        raise ObjectiveError(str(error), result=result) from error
    return result


def optimize(G, objective, method: str = "hess-cma", basis=None, *, top: int | None = None,
             eigval_power: float | None = None, eigval_floor: float = 1e-6, budget: int = 3000, seed: int = 0,
             z_init=None, sigma0: float = 0.5, popsize: int | None = None, batch: int | None = None,
             minimize: bool = False, distance=None, objective_weights=None, stop=None,
             progress: bool = False) -> OptimizationResult:
    """Search the latent space for the image that maximises (or minimises) a black-box score.

    Args:
        G: the generator.
        objective: a callable images (B, C, H, W) in [-1, 1] -> B scores, or a spec
            (``module:function``, ``unit:torchvision:MODEL:LAYER:CHANNEL[:Y:X]``, ``image:PATH``).
        method: ``random``, ``cma`` or ``hess-cma``.
        basis: hess-cma's directions (a result or average, its file, axes, or an (n, k) matrix).
        top: hess-cma's k (default 50).
        eigval_power: hess-cma's p in ``s_i = (lambda_i / lambda_1)^-p`` (default 0.5).
        eigval_floor: eigenvalues below this fraction of lambda_1 are raised to it (bounds s).
        budget: images scored, exactly.
        seed: the run's seed.
        z_init: the starting code (n,) (default ``G.sample(1, seed)``).
        sigma0: initial step relative to the prior's scale.
        popsize: codes per generation.
        batch: images per objective call at most.
        minimize: minimise instead.
        distance, objective_weights: for ``image:`` and ``unit:`` specs.
        stop: called before each generation; True ends the run, keeping what it has.
        progress: a progress bar.

    Returns:
        OptimizationResult.

    Raises:
        InputError: any bad input (see :func:`prepare_optimization`).
        ObjectiveError: the objective raised or returned bad scores; ``exc.result`` is the partial result.
    """
    plan = prepare_optimization(G, objective, [method], seeds=[seed], basis=basis, top=top,
                                eigval_power=eigval_power, eigval_floor=eigval_floor, budget=budget, sigma0=sigma0,
                                popsize=popsize, batch=batch, minimize=minimize, z_init=z_init, distance=distance,
                                objective_weights=objective_weights)
    return run_one(plan, plan.arms[0]["label"], seed, stop=stop, progress=progress)


@dataclass(frozen=True)
class Comparison:
    """Every arm run from every seed (seed by seed, so that a stop leaves comparable runs).

    Attributes:
        plan: the :class:`Plan`.
        runs: the runs made, in order.
        stopped: None, "interrupted", or the objective error's line.
        seconds: wall time.
    """

    plan: Plan
    runs: list
    stopped: str | None = None
    seconds: float = 0.0

    @property
    def labels(self) -> list[str]:
        return [a["label"] for a in self.plan.arms]

    def run(self, label: str, seed: int) -> OptimizationResult | None:
        return next((r for r in self.runs if r.label == label and r.seed == seed), None)

    def complete_seeds(self) -> list[int]:
        """Seeds for which every arm spent its whole budget."""
        return [s for s in self.plan.seeds
                if all((r := self.run(lb, s)) is not None and r.stopped is None for lb in self.labels)]

    def table(self) -> dict:
        """label -> seed -> final best score (None where the run made no evaluation or was not made)."""
        return {lb: {s: (r.score if (r := self.run(lb, s)) is not None else None) for s in self.plan.seeds}
                for lb in self.labels}

    def medians(self) -> dict:
        """label -> median final best over the complete seeds (None without one)."""
        seeds = self.complete_seeds()
        return {lb: (float(np.median([self.run(lb, s).score for s in seeds])) if seeds else None)
                for lb in self.labels}

    def wins(self) -> dict:
        """label -> seeds (of the complete ones) on which it reached the best final score (ties count for each)."""
        sign = 1.0 if self.plan.maximize else -1.0
        wins = {lb: 0 for lb in self.labels}
        for s in self.complete_seeds():
            finals = {lb: sign * self.run(lb, s).score for lb in self.labels}
            top = max(finals.values())
            for lb, v in finals.items():
                wins[lb] += int(v == top)
        return wins

    def summary(self) -> dict:
        """JSON-ready: settings, arms, the objective, every run, medians, wins, stop reason, time."""
        return {"objective": self.plan.objective.record, "settings": self.plan.settings, "methods": self.plan.arms,
                "runs": [r.summary() for r in self.runs], "final_best": self.table(), "median": self.medians(),
                "wins": self.wins(), "complete_seeds": self.complete_seeds(), "stopped": self.stopped,
                "interrupted": self.stopped == "interrupted", "seconds": self.seconds}


@exact_float32
def run_comparison(plan: Plan, *, stop=None, progress: bool = False) -> Comparison:
    """Run every arm of ``plan`` from every seed, seed by seed; an objective error or ``stop()`` ends it early.

    Args:
        plan: the :class:`Plan` (from :func:`prepare_optimization`).
        stop: called before each generation; True ends the comparison, keeping what it has.
        progress: a progress bar per run.

    Returns:
        The :class:`Comparison` (``stopped`` holds the objective error's line or "interrupted").
    """
    t0 = time.perf_counter()
    runs, stopped = [], None
    for seed in plan.seeds:
        for arm in plan.arms:
            if stop is not None and stop():
                stopped = "interrupted"
                break
            try:
                runs.append(run_one(plan, arm["label"], seed, stop=stop, progress=progress))
            except ObjectiveError as exc:
                runs.append(exc.result)
                stopped = str(exc)
                break
            if runs[-1].stopped:
                stopped = runs[-1].stopped
                break
        if stopped:
            break
    return Comparison(plan, runs, stopped, time.perf_counter() - t0)


def compare(G, objective, methods=("random", "cma"), *, seeds=5, stop=None, progress: bool = False,
            **options) -> Comparison:
    """Run several methods from the same seeds and starting points with the same budget.

    ``run_comparison(prepare_optimization(G, objective, methods, seeds=seeds, **options))``:
    see :func:`prepare_optimization` for the options (basis, top, eigval_power, budget,
    sigma0, popsize, batch, minimize, z_init, distance, objective_weights).

    Args:
        G: the generator.
        objective: a spec, a callable or an :class:`Objective` (see :func:`load_objective`).
        methods: names or :class:`Arm` objects.
        seeds: a count or a list.
        stop: called before each generation; True ends the comparison, keeping what it has.
        progress: a progress bar per run.
        **options: the options of :func:`prepare_optimization`.

    Returns:
        The :class:`Comparison`: every run, ``medians()``, ``wins()``, ``table()``.

    Raises:
        InputError: any bad input, before anything is scored. (An objective error does not
            raise: it ends the comparison, whose ``stopped`` holds its line.)
    """
    return run_comparison(prepare_optimization(G, objective, methods, seeds=seeds, **options), stop=stop,
                          progress=progress)

