"""ganmetric.blackbox run loop: exact budgets, closed-form optima, the rotation identity of hess-cma, stops."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ganmetric
from ganmetric.blackbox import ObjectiveError, compare, optimize
from helpers import LinearGenerator


def _linear(n=6, pixels=16, seed=0):
    A = torch.randn(pixels, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return LinearGenerator(A, shape=(1, 4, pixels // 4))


def _quadratic(G, z_star):
    """Score -|G(z) - G(z*)|^2: its maximum 0 is reached at z* only (A has full column rank)."""
    with torch.no_grad():
        target = G(torch.as_tensor(z_star, dtype=torch.float64)[None])

    def score(x):
        return -(x - target).pow(2).flatten(1).sum(1)
    return score


class _Counting:
    """An objective that records the size of every call."""

    def __init__(self, fn):
        self.fn, self.calls = fn, []

    def __call__(self, x):
        self.calls.append(x.shape[0])
        return self.fn(x)


@pytest.fixture(scope="module")
def G():
    return _linear()


Z_STAR = np.array([0.7, -1.2, 0.3, 1.5, -0.4, 0.9])


@pytest.mark.parametrize("method", ["random", "cma"])
@pytest.mark.parametrize("budget,batch", [(9, None), (50, None), (50, 4), (64, 7)])
def test_budget_is_exact_and_batches_are_capped(G, method, budget, batch):
    f = _Counting(_quadratic(G, Z_STAR))
    res = optimize(G, f, method, budget=budget, batch=batch, seed=1)   # popsize 4 + floor(3 ln 6) = 9
    assert sum(f.calls) == budget == res.evaluations == len(res.scores)
    assert max(f.calls) <= (batch or 9)
    assert int(res.trace["evaluations"][-1]) == budget
    full, rest = divmod(budget, 9)
    assert list(res.trace["scored"]) == [9] * full + ([rest] if rest else [])   # only the last one is cut


def test_random_search_best_is_the_max_of_its_prior_samples(G):
    f = _quadratic(G, Z_STAR)
    res = optimize(G, f, "random", budget=40, seed=3)
    samples = G.sample(41, seed=3)[1:]                 # row 0 is the starting point of seed 3
    with torch.no_grad():
        expected = f(G(samples)).numpy()
    np.testing.assert_allclose(res.scores, expected, rtol=0, atol=1e-12)
    assert res.score == pytest.approx(expected.max(), abs=1e-12)
    np.testing.assert_allclose(res.z.numpy(), samples[int(expected.argmax())].numpy(), atol=1e-12)
    np.testing.assert_allclose(res.z_init.numpy(), G.sample(1, seed=3)[0].numpy(), atol=0)


def test_cma_reaches_the_known_optimum_of_a_quadratic(G):
    res = optimize(G, _quadratic(G, Z_STAR), "cma", budget=900, seed=0)
    assert res.score > -1e-6                           # the maximum is 0
    assert np.linalg.norm(res.z.numpy() - Z_STAR) < 1e-3


def test_hess_cma_with_top_k_reaches_the_optimum_on_its_subspace_and_no_better(G):
    """With k < n the codes move in z_init + span(U_k): the best is the least-squares fit on that
    subspace, min_c |A (z_init + U c) - A z*|^2, a closed form."""
    D = ganmetric.load_distance("mse", dtype="float64")
    basis = ganmetric.metric_tensor(G, D, G.sample(1, seed=9))
    U = basis.eigvecs[:, :3].numpy()
    res = optimize(G, _quadratic(G, Z_STAR), "hess-cma", basis=basis, top=3, eigval_power=0.5, budget=900, seed=2)
    A, z0 = G.A.numpy(), res.z_init.numpy()
    c, *_ = np.linalg.lstsq(A @ U, A @ (Z_STAR - z0), rcond=None)
    best = -np.sum((A @ (z0 + U @ c - Z_STAR)) ** 2)
    assert best < -1.0                                  # the subspace misses z*: a real bound
    assert res.score <= best + 1e-9
    assert res.score == pytest.approx(best, abs=1e-5)
    np.testing.assert_allclose(res.z.numpy(), z0 + U @ c, atol=1e-3)


def test_hess_cma_with_an_orthonormal_basis_is_cma_on_the_rotated_problem(G):
    """CMA-ES on c with z = z_init + Q c (Q orthonormal, p = 0, k = n) and the same normal stream is
    cma on g(z) = f(z_init + Q (z - z_init)): identical scores, codes mapped by Q. (Since the
    starting distribution is isotropic, the score distributions over seeds are equal too.)"""
    Q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((6, 6)))
    f = _quadratic(G, Z_STAR)
    z0 = G.sample(1, seed=4)[0].numpy()
    Qt, z0t = torch.as_tensor(Q), torch.as_tensor(z0)

    class Rotated(LinearGenerator):
        """G composed with the rotation about z_init: G(z_init + Q (z - z_init))."""

        def _generate(self, z):
            return super()._generate(z0t + (z - z0t) @ Qt.T)

    R = Rotated(G.A, shape=G.shape)
    hess = optimize(G, f, "hess-cma", basis=Q, top=6, eigval_power=0.0, budget=300, seed=5, z_init=z0)
    plain = optimize(R, f, "cma", budget=300, seed=5, z_init=z0)
    np.testing.assert_allclose(hess.scores, plain.scores, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(hess.z.numpy(), z0 + Q @ (plain.z.numpy() - z0), atol=1e-9)
    assert hess.settings["sigma_start"] == pytest.approx(plain.settings["sigma_start"], rel=1e-12)


def test_hess_cma_first_step_matches_cma_in_mean_square(G):
    """sigma_c = sigma sqrt(n) / |B|_F: the first generation's E|z - z_init|^2 is sigma^2 n for both methods."""
    D = ganmetric.load_distance("mse", dtype="float64")
    basis = ganmetric.metric_tensor(G, D, G.sample(1, seed=9))
    res = optimize(G, _quadratic(G, Z_STAR), "hess-cma", basis=basis, top=4, eigval_power=0.5, budget=9, seed=0)
    B = basis.eigvecs[:, :4].numpy() * (basis.eigvals[:4].numpy() / float(basis.eigvals[0])) ** -0.5
    assert res.settings["sigma_start"] == pytest.approx(0.5 * np.sqrt(6) / np.linalg.norm(B), rel=1e-12)


def test_runs_are_reproducible_and_leave_numpy_global_state_alone(G):
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    a = optimize(G, _quadratic(G, Z_STAR), "cma", budget=60, seed=7)
    assert np.array_equal(np.random.get_state()[1], state)
    b = optimize(G, _quadratic(G, Z_STAR), "cma", budget=60, seed=7)
    np.testing.assert_array_equal(a.scores, b.scores)      # the same computation twice: bit for bit


def test_minimize_flips_the_direction(G):
    f = _quadratic(G, Z_STAR)
    res = optimize(G, lambda x: -f(x), "cma", budget=600, seed=0, minimize=True)
    assert res.score < 1e-4 and not res.maximize
    assert np.all(np.diff(res.best_so_far()) <= 0)


def test_flat_objective_restarts_and_still_spends_the_budget(G):
    res = optimize(G, lambda x: torch.zeros(x.shape[0]), "cma", budget=45, seed=0)
    assert res.evaluations == 45 and res.restarts
    assert res.restarts[0]["after_generation"] == 1 and res.restarts[0]["reasons"]   # pycma's tolfun here


@pytest.mark.parametrize("bad,match", [
    (lambda x: torch.full((x.shape[0],), float("nan")), r"returned NaN for 9 of 9 images \(first at index 0\)"),
    (lambda x: torch.tensor([1.0] * 8 + [float("inf")]), r"returned inf for 1 of 9 images \(first at index 8\)"),
    (lambda x: torch.zeros(x.shape[0], 2), r"returned shape \(9, 2\) for 9 images; expected 9 scores"),
    (lambda x: None, "returned None"),
    (lambda x: "high", "returned a str"),
    (lambda x: 1 / 0, "raised ZeroDivisionError: division by zero"),
])
def test_bad_objective_stops_the_run_and_keeps_what_it_had(G, bad, match):
    calls = []

    def objective(x):
        calls.append(1)
        return bad(x) if len(calls) == 3 else torch.arange(x.shape[0], dtype=torch.float64)

    with pytest.raises(ObjectiveError, match=match) as info:
        optimize(G, objective, "cma", budget=90, seed=0)
    assert "\n" not in str(info.value)
    kept = info.value.result
    assert kept.evaluations == 18 and len(kept.trace["generation"]) == 2 and kept.stopped == str(info.value)
    assert kept.z is not None and kept.score == 8.0


def test_stop_callback_ends_after_the_current_generation(G):
    asked = []
    res = optimize(G, _quadratic(G, Z_STAR), "cma", budget=90, seed=0, stop=lambda: asked.append(1) or len(asked) > 3)
    assert res.stopped == "interrupted" and res.evaluations == 27 and len(res.trace["generation"]) == 3


def test_compare_shares_seeds_and_starts_and_stops_on_an_objective_error(G):
    cmp = compare(G, _quadratic(G, Z_STAR), ["random", "cma"], seeds=[3, 5], budget=27)
    assert cmp.stopped is None and cmp.complete_seeds() == [3, 5]
    for s in (3, 5):
        np.testing.assert_array_equal(cmp.run("random", s).z_init.numpy(), cmp.run("cma", s).z_init.numpy())
    wins = cmp.wins()
    assert sum(wins.values()) >= 2
    med = cmp.medians()
    assert med["cma"] == pytest.approx(np.median([cmp.run("cma", s).score for s in (3, 5)]))

    calls = []

    def flaky(x):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("sensor offline")
        return torch.zeros(x.shape[0])

    cmp = compare(G, flaky, ["random", "cma"], seeds=2, budget=27)
    assert cmp.stopped == "the objective test_blackbox_run:test_compare_shares_seeds_and_starts_and_stops_on_an_" \
                          "objective_error.<locals>.flaky raised RuntimeError: sensor offline"
    assert [(r.label, r.seed, r.evaluations) for r in cmp.runs] == [("random", 0, 27), ("cma", 0, 9)]
    assert cmp.complete_seeds() == []


def test_given_starting_codes(G):
    z = np.stack([Z_STAR, -Z_STAR])
    cmp = compare(G, _quadratic(G, Z_STAR), ["cma"], seeds=2, budget=9, z_init=z)
    np.testing.assert_allclose(cmp.run("cma", 1).z_init.numpy(), -Z_STAR)
    cmp = compare(G, _quadratic(G, Z_STAR), ["cma"], seeds=2, budget=9, z_init=Z_STAR)
    np.testing.assert_allclose(cmp.run("cma", 1).z_init.numpy(), Z_STAR)
