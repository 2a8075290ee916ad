"""Search methods of black-box optimisation (:data:`METHODS`), each a searcher with ``ask``/``tell``.

- ``random``: codes drawn from the generator's prior, independently (the floor any method
  must beat). For seed ``s`` they are rows 1, 2, ... of ``G.sample(budget + 1, seed=s)``,
  whose row 0 is the starting point of ``--init prior``.
- ``cma``: CMA-ES (pycma's :class:`cma.CMAEvolutionStrategy`, ask/tell) on the full code z,
  started at ``z_init`` with step ``sigma``.
- ``hess-cma``: CMA-ES on coefficients c with ``z = z_init + B c``, ``B = U_k diag(s)``
  (:func:`ganmetric.basis.resolve_basis`), started at c = 0 with step
  ``sigma * sqrt(n) / ||B||_F``, so that the first generation's mean squared step
  ``E |z - z_init|^2 = sigma_c^2 ||B||_F^2`` equals cma's ``sigma^2 n``. With an orthonormal
  (n, n) basis and p = 0 it is cma on the problem rotated about ``z_init``.

Both CMA methods draw their normal numbers from a private ``numpy`` generator seeded with
the run's seed (pycma's global ``numpy.random`` seeding is switched off), so a run is
reproducible and leaves the caller's random state alone, and cma and hess-cma of one seed
use the same stream. When pycma's own termination criteria fire before the budget is spent
(flat fitness, no change in x, stagnation), the search restarts from the best solution so
far with the initial step; the restarts are recorded.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class SearchMethod:
    """A search method: ``make(setup)`` returns a searcher with ``ask()``, ``codes(X)``, ``tell(X, losses)``."""

    help: str
    needs_basis: bool
    make: Callable


class RandomSearch:
    """Independent draws from the prior: ``ask`` returns the next ``popsize`` of them."""

    def __init__(self, prior_codes: np.ndarray, popsize: int):
        self._codes = prior_codes
        self._next = 0
        self.popsize = popsize
        self.sigma = None
        self.restarts: list[dict] = []

    def ask(self) -> np.ndarray:
        rows = self._codes[self._next:self._next + self.popsize]
        self._next += len(rows)
        return rows

    def codes(self, X: np.ndarray) -> np.ndarray:
        return X

    def tell(self, X: np.ndarray, losses: np.ndarray) -> None:
        """Nothing to learn."""


class CMASearch:
    """pycma's CMA-ES on solutions x, mapped to codes by ``to_codes``; restarts from the best x when pycma stops.

    Args:
        x0: (d,) the initial mean.
        sigma: the initial step.
        popsize: solutions per generation.
        seed: seed of the private normal stream.
        to_codes: (m, d) solutions -> (m, n) codes (float64 arrays).
    """

    def __init__(self, x0: np.ndarray, sigma: float, popsize: int, seed: int,
                 to_codes: Callable[[np.ndarray], np.ndarray]):
        self._rng = np.random.default_rng(seed)
        self.sigma0 = float(sigma)
        self.popsize = int(popsize)
        self._to_codes = to_codes
        self._best = (np.inf, np.asarray(x0, dtype=np.float64))
        self.restarts: list[dict] = []
        self.generation = 0
        self.es = self._start(self._best[1])

    def _start(self, x0: np.ndarray):
        import cma
        opts = {"seed": np.nan, "randn": lambda *shape: self._rng.standard_normal(shape), "popsize": self.popsize,
                "verbose": -9, "verb_log": 0, "verb_disp": 0, "maxiter": np.inf, "maxfevals": np.inf}
        return cma.CMAEvolutionStrategy(np.array(x0, dtype=np.float64), self.sigma0, opts)

    @property
    def sigma(self) -> float:
        return float(self.es.sigma)

    def ask(self) -> np.ndarray:
        return np.asarray(self.es.ask(), dtype=np.float64)

    def codes(self, X: np.ndarray) -> np.ndarray:
        return self._to_codes(X)

    def tell(self, X: np.ndarray, losses: np.ndarray) -> None:
        """Update with a full generation; restart from the best solution if pycma says it has stopped."""
        self.es.tell(list(X), [float(v) for v in losses])
        self.generation += 1
        i = int(np.argmin(losses))
        if losses[i] < self._best[0]:
            self._best = (float(losses[i]), X[i].copy())
        stop = {k: v for k, v in self.es.stop().items() if k not in ("callback",)}
        if stop:
            self.restarts.append({"after_generation": self.generation, "reasons": sorted(stop)})
            self.es = self._start(self._best[1])


def _random(setup) -> RandomSearch:
    prior = setup.G.sample(setup.budget + 1, seed=setup.seed)[1:]
    return RandomSearch(prior.detach().cpu().double().numpy(), setup.popsize)


def _cma(setup) -> CMASearch:
    return CMASearch(setup.z_init, setup.sigma, setup.popsize, setup.seed, lambda X: X)


def _hess_cma(setup) -> CMASearch:
    B, z0 = setup.basis, setup.z_init
    return CMASearch(np.zeros(B.shape[1]), initial_sigma(setup), setup.popsize, setup.seed, lambda X: z0 + X @ B.T)


METHODS = {
    "random": SearchMethod("independent samples of the prior (the floor any method must beat)", False, _random),
    "cma": SearchMethod("CMA-ES (pycma) on the full latent code", False, _cma),
    "hess-cma": SearchMethod("CMA-ES on coefficients c of z = z_init + U_k diag(s) c, U_k the top k directions of "
                             "a metric, s_i = (lambda_i / lambda_1)^-p", True, _hess_cma),
}
"""The search methods, name -> :class:`SearchMethod` (``--method`` of ``ganmetric optimize`` reads it)."""


def initial_sigma(setup) -> float | None:
    """The step the searcher starts with, in its own coordinates (z for cma, c for hess-cma; None for random)."""
    if setup.method == "random":
        return None
    if setup.method == "hess-cma":
        return float(setup.sigma * np.sqrt(setup.basis.shape[0]) / np.linalg.norm(setup.basis))
    return float(setup.sigma)

