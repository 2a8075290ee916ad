"""prepare_optimization: every bad input is refused in one line before anything is scored."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ganmetric
from ganmetric.blackbox import Arm, default_popsize, prepare_optimization, prior_scale
from helpers import LinearGenerator, TinyConvGenerator


def _G(n=6):
    return LinearGenerator(torch.randn(16, n, generator=torch.Generator().manual_seed(0), dtype=torch.float64))


def _never(x):
    raise AssertionError("nothing may be scored while preparing")


@pytest.fixture(scope="module")
def basis_file(tmp_path_factory):
    """A metric result of the 6-d linear generator, saved with its model's record."""
    G = _G()
    res = ganmetric.metric_tensor(G, ganmetric.load_distance("mse", dtype="float64"), G.sample(1, seed=1))
    return res.save(tmp_path_factory.mktemp("basis") / "h.npz").path


def test_defaults():
    G = _G()
    plan = prepare_optimization(G, _never, ["random", "cma"], seeds=3, budget=9)
    assert plan.popsize == default_popsize(6) == 9 and plan.seeds == [0, 1, 2]
    assert plan.sigma == 0.5 and plan.settings["prior_scale"] == 1.0 and plan.maximize
    np.testing.assert_array_equal(plan.z_inits[2], G.sample(1, seed=2)[0].numpy())


def test_prior_scale_of_a_non_standard_prior():
    class Wide(LinearGenerator):
        def sample(self, n=1, seed=0):
            return 3.0 * super().sample(n, seed) + 1.0
    s = prior_scale(Wide(torch.eye(16, 6, dtype=torch.float64)))
    assert s == pytest.approx(3.0, rel=0.05)           # 1000 samples: the spread, not the offset


def test_basis_file_records_provenance(basis_file):
    plan = prepare_optimization(_G(), _never, ["hess-cma"], basis=basis_file, top=4, budget=9)
    rec = plan.settings["basis"]
    assert rec["file"] == str(basis_file) and rec["model"] == "linear" and rec["distance"] == "mse"
    assert len(rec["sha256"]) == 64 and plan.arms[0]["top"] == 4 and plan.arms[0]["eigval_power"] == 0.5
    assert plan.bases["hess-cma"].shape == (6, 4)


@pytest.mark.parametrize("kwargs,match", [
    (dict(methods=["cma"], budget=8), r"budget must be at least one population \(9 codes per generation\), got 8"),
    (dict(methods=["cma"], budget=20, popsize=21), "budget must be at least one population"),
    (dict(methods=["cma"], popsize=1), "popsize must be at least 2, got 1"),
    (dict(methods=["cma"], sigma0=0.0), "sigma0 must be a finite number > 0, got 0"),
    (dict(methods=["cma"], batch=0), "batch must be at least 1, got 0"),
    (dict(methods=["cma"], seeds=0), "seeds must be at least 1, got 0"),
    (dict(methods=["cma"], seeds=[1, 1]), "seeds must be a count or distinct non-negative integers"),
    (dict(methods=["cma"], seeds=[-1]), r"seeds must be an integer in \[0, 2\*\*63\), got -1"),
    (dict(methods=["cmaes"]), r"method 'cmaes' is not one of \{cma, hess-cma, random\}"),
    (dict(methods=[]), "methods must name at least one method"),
    (dict(methods=["cma", "cma"]), "methods lists cma more than once"),
    (dict(methods=[Arm("cma", label="a b")]), "a method label may hold only letters"),
    (dict(methods=[Arm("cma", top=3)]), "top and eigval_power apply to hess-cma only, not to cma"),
    (dict(methods=["cma"], top=3), "top applies to hess-cma only, and no hess-cma is run"),
    (dict(methods=["cma"], eigval_power=0.5), "eigval_power applies to hess-cma only, and no hess-cma is run"),
    (dict(methods=["hess-cma"]), "hess-cma needs a basis"),
    (dict(methods=["cma"], basis=np.eye(6)), "basis is used only by hess-cma"),
    (dict(methods=["hess-cma"], basis=np.eye(6), top=7), "top must be at most the latent size 6, got 7"),
    (dict(methods=["hess-cma"], basis=np.eye(6)[:, :3], top=4, eigval_power=0.0),
     r"top must be at most 3, the directions the basis \(matrix \(6, 3\)\) holds, got 4"),
    (dict(methods=["hess-cma"], basis=np.eye(5), top=4), r"basis from matrix \(5, 5\) must have shape \(6, k\)"),
    (dict(methods=["hess-cma"], basis=np.eye(6), top=4), "eigval_power=0.5 needs eigenvalues"),
    (dict(methods=["cma"], z_init=np.zeros(5)), r"z_init must have shape \(6,\) or \(N, 6\)"),
    (dict(methods=["cma"], seeds=3, z_init=np.zeros((2, 6))), "z_init holds 2 codes for 3 seeds"),
    (dict(methods=["cma"], distance="mse"), "distance is used only by image: objectives"),
])
def test_bad_input_is_refused_before_scoring(kwargs, match):
    with pytest.raises(ganmetric.InputError, match=match) as info:
        prepare_optimization(_G(), _never, **{"budget": 9, **kwargs})
    assert "\n" not in str(info.value)


def test_basis_from_another_model_is_refused(basis_file, tmp_path):
    other = TinyConvGenerator(n=6, seed=0, res=8)
    with pytest.raises(ganmetric.InputError, match="was made with another model setting: model linear there, "
                                                   "tiny-conv here"):
        prepare_optimization(other, _never, ["hess-cma"], basis=basis_file, top=3, budget=9)
    G8 = _G(8)
    res8 = ganmetric.metric_tensor(G8, ganmetric.load_distance("mse", dtype="float64"), G8.sample(1))
    with pytest.raises(ganmetric.InputError, match="was made with another model setting: latent size 8 there, 6 here"):
        prepare_optimization(_G(), _never, ["hess-cma"], basis=res8.save(tmp_path / "n8.npz").path, top=3, budget=9)
