"""The fake-CUDA tier: generator and distance forwards on ``cuda:0`` tensors faked by ``FakeTensorMode``.

``FakeTensorMode`` gives tensors a device, shape and dtype and no data, and refuses an op that
mixes devices exactly as CUDA does, on a machine without CUDA. What it covers in torch 2.14's
CPU build, measured here: every forward (generators, distances, layer hooks, the objective's maps).
What it does not: backward passes (autograd's engine asks for the CUDA context: "hasPrimaryContext
expects a valid device index") and ``torch.func`` transforms (functorch's batched tensors are
refused as non-fake inputs), so the Jacobian passes are left to the meta-device tier
(test_tier_meta_device.py). This tier catches what the meta tier cannot: a forward that puts a
tensor on the CPU by name (``device="cpu"``, ``.cpu()``) next to a GPU model's tensors.
"""
from __future__ import annotations

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

import ganmetric
from ganmetric.errors import InputError
from ganmetric.generators.families import FAMILIES
from ganmetric.hessian.objective import Objective
from helpers import TinyConvGenerator
from helpers_devices import TINY_MODEL_FILES, TINY_MODELS, fake_cuda_copy

CUDA = torch.device("cuda", 0)
#: LPIPS keys its cache on data pointers; a fake tensor's warns (and has none): harmless here
pytestmark = [pytest.mark.filterwarnings("ignore:Accessing the data pointer of FakeTensor"),
              pytest.mark.filterwarnings("ignore::ganmetric.errors.UnknownSourceWarning")]  # NVIDIA .pkl: own source


@pytest.fixture
def mode():
    return FakeTensorMode()


@pytest.fixture(scope="module")
def lpips():
    return {net: ganmetric.load_distance(f"lpips-{net}", lpips_backbone="random", resize=resize)
            for net, resize in (("alex", None), ("squeeze", 64))}


@pytest.mark.parametrize("family", sorted(FAMILIES) + sorted(TINY_MODEL_FILES))
def test_every_family_runs_its_forward_on_a_fake_gpu(family, mode, tmp_path, lpips):
    if family not in TINY_MODELS:
        pytest.fail(f"family {family} has no tiny model in tests/helpers_devices.py TINY_MODELS: add one so that "
                    f"the device tiers cover it")
    model, options = TINY_MODELS[family](tmp_path)
    G = ganmetric.load_generator(model, **options)
    z = G.sample(2, seed=0)
    want = G(z).shape
    Gf = fake_cuda_copy(G, mode)
    Df = fake_cuda_copy(lpips["squeeze"], mode)
    with mode:
        x = Gf(torch.zeros(z.shape, device=CUDA))
        d = Df(x[:1], x)
    assert x.device == CUDA and x.shape == want and d.device == CUDA and d.shape == (2,)


@pytest.mark.parametrize("net, side", [("alex", 64), ("squeeze", 16)])
def test_distances_and_the_objectives_maps_run_on_a_fake_gpu(net, side, mode, lpips):
    """LPIPS with and without resize (its interpolate), MSE, and psi / f of the objective the operators
    differentiate. (A layer distance checks a generator's layers on data when it first reads it: the meta tier
    covers it.)"""
    G = TinyConvGenerator(n=6, res=side)
    Gf = fake_cuda_copy(G, mode)
    distances = [fake_cuda_copy(lpips[net], mode), ganmetric.load_distance("mse")]
    with mode:
        z = torch.zeros(3, 6, device=CUDA)
        for D in distances:
            obj = Objective(Gf, D, z[0])
            psi, f = obj.psi(z), obj.f(z)
            inputs = D.inputs(Gf, z)
            assert psi.device == f.device == inputs.device == CUDA and psi.shape[0] == f.shape[0] == 3


class CPUInside(TinyConvGenerator):
    """A forward that names the CPU: fine on a CPU machine and in the meta tier, wrong on a GPU."""

    def _generate(self, z):
        ramp = torch.linspace(0, 1, 3, device="cpu")[None, :, None, None]
        return super()._generate(z) + ramp


def test_the_tier_catches_a_forward_that_names_the_cpu(mode):
    G = CPUInside(n=6, res=8)
    G(torch.zeros(1, 6))  # runs on the CPU
    Gf = fake_cuda_copy(G, mode)
    with mode, pytest.raises(RuntimeError, match="cpu"):
        Gf(torch.zeros(1, 6, device=CUDA))


def test_a_distance_on_the_gpu_with_a_cpu_generator_is_one_line(mode, lpips):
    G = TinyConvGenerator(n=6, res=16)
    Df = fake_cuda_copy(lpips["squeeze"], mode)
    with pytest.raises(InputError, match="^the distance is on cuda:0 but the generator is on cpu; load both on the "
                                         "same device$"):
        ganmetric.metric_tensor(G, Df, torch.zeros(6))
