"""The determinism probe on its own: what it refuses, with which message, and what it evaluates."""
from __future__ import annotations

import pytest
import torch

import ganmetric
from ganmetric.errors import NonFiniteError, NotDeterministicError
from ganmetric.hessian import DeterminismProbe, Objective, probe_determinism
from helpers import LinearGenerator, NoisyGenerator


def _batches(G, run) -> list[int]:
    """Batch sizes of G's calls while ``run()`` runs."""
    seen = []
    handle = G.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[0]))
    try:
        run()
    finally:
        handle.remove()
    return seen


@pytest.mark.parametrize("mode, match", [("dropout", "two evaluations of the same code differ"),
                                         ("batchstats", "changes with the other codes in its batch")])
def test_refuses_a_map_that_is_not_deterministic(mode, match):
    with pytest.raises(NotDeterministicError, match=f"^noisy-{mode}: .*{match}"):
        probe_determinism(Objective(NoisyGenerator(mode), ganmetric.load_distance("mse"), torch.ones(4)))


def test_a_non_finite_image_is_refused_when_the_probe_is_made():
    with pytest.raises(NonFiniteError, match="generator's output is not finite"):
        DeterminismProbe(Objective(NoisyGenerator("nan"), ganmetric.load_distance("mse"), torch.ones(4)))


def test_a_given_primal_costs_no_evaluation():
    """Made: one evaluation of two codes. Checked with z0's features evaluated alone elsewhere (a method's
    primal): nothing more. Checked without one: z0 alone, once."""
    G = LinearGenerator(torch.randn(16, 4, generator=torch.Generator().manual_seed(0)))
    D = ganmetric.load_distance("mse")
    obj = Objective(G, D, torch.ones(4))
    assert _batches(G, lambda: setattr(obj, "probe", DeterminismProbe(obj))) == [2]
    alone = G(torch.ones(1, 4)).flatten(1)
    assert _batches(G, lambda: obj.probe.check(alone)) == [] and obj.probe.done
    assert _batches(G, lambda: DeterminismProbe(Objective(G, D, torch.ones(4))).check()) == [2, 1]


def test_a_primal_that_differs_is_refused():
    G = LinearGenerator(torch.randn(16, 4, generator=torch.Generator().manual_seed(0)))
    probe = DeterminismProbe(Objective(G, ganmetric.load_distance("mse"), torch.ones(4)))
    with pytest.raises(NotDeterministicError, match="differ by"):
        probe.check(G(torch.ones(1, 4)).flatten(1) + 1)
