"""placement: G, D and the codes share one device, refused in one line naming both devices before any work.

A CPU-only machine has a second device that holds no data, ``meta``: a distance or codes moved
there stand for ones on another GPU (the check compares devices, not kinds of device).
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import ganmetric
from ganmetric.errors import InputError
from ganmetric.placement import check_codes_device, check_same_device, module_device, tensor_device
from helpers import LinearGenerator


class CountingGenerator(LinearGenerator):
    """G(z) = A z that counts its forward passes (none may run before a refusal)."""

    calls = 0

    def _generate(self, z):
        self.calls += 1
        return super()._generate(z)


@pytest.fixture
def G():
    return CountingGenerator(torch.eye(48, 4))


@pytest.fixture(scope="module")
def lpips_meta():
    D = ganmetric.load_distance("lpips-squeeze", lpips_backbone="random")
    return copy.deepcopy(D).to("meta")


def test_a_distance_on_another_device_is_refused_before_any_pass(G, lpips_meta):
    with pytest.raises(InputError, match=r"^the distance is on meta but the generator is on cpu; load both on the "
                                         r"same device$") as info:
        ganmetric.metric_tensor(G, lpips_meta, torch.ones(4))
    assert info.value.argument == "device" and G.calls == 0


def test_codes_on_another_accelerator_are_refused_and_cpu_codes_are_moved(G):
    D = ganmetric.load_distance("mse")
    with pytest.raises(InputError, match=r"^z is on meta but the generator is on cpu") as info:
        ganmetric.metric_tensor(G, D, torch.ones(4, device="meta"))
    assert info.value.argument == "z" and G.calls == 0
    for z in (np.ones(4), [1.0] * 4, torch.ones(1, 4)):  # arrays, lists and CPU tensors are the generator's to place
        check_codes_device(z, G)


def test_batch_refuses_before_writing_anything(G, lpips_meta, tmp_path):
    with pytest.raises(InputError, match="the distance is on meta but the generator is on cpu"):
        ganmetric.batch_metric(G, lpips_meta, np.ones((2, 4)), tmp_path / "b")
    with pytest.raises(InputError, match="codes is on meta but the generator is on cpu"):
        ganmetric.batch_metric(G, ganmetric.load_distance("mse"), torch.ones(2, 4, device="meta"), tmp_path / "b")
    assert not (tmp_path / "b").exists() and G.calls == 0


def test_the_workflows_that_take_g_and_d_refuse_too(G, lpips_meta):
    z = torch.ones(4)
    with pytest.raises(InputError, match="the distance is on meta"):
        ganmetric.path_length(G, lpips_meta, torch.stack([z, 2 * z]))
    with pytest.raises(InputError, match="the distance is on meta"):
        ganmetric.geodesic(G, lpips_meta, z, 2 * z, points=4)
    from ganmetric.axes import calibrate_steps, distance_curves
    axes = (np.eye(4)[:2], np.ones(2))  # rows and eigenvalues
    with pytest.raises(InputError, match="the distance is on meta"):
        distance_curves(G, lpips_meta, z, axes, [0], np.linspace(-1, 1, 3))
    with pytest.raises(InputError, match="the distance is on meta"):
        calibrate_steps(G, lpips_meta, z, axes, indices=[0], max_distance=0.1, n_targets=2)
    assert G.calls == 0


def test_devices_of_modules_and_callables():
    assert tensor_device(lambda x: x) is None and module_device(lambda x: x) == torch.device("cpu")
    D = ganmetric.load_distance("mse")  # no tensors: it goes with any generator
    assert check_same_device(LinearGenerator(torch.eye(16, 4)), D) == torch.device("cpu")


def test_conversions_never_use_the_default_device():
    from ganmetric.placement import as_numpy, cpu_float64, cpu_tensor
    with torch.device("meta"):
        t = cpu_tensor(np.arange(3, dtype=np.float32))
        f = cpu_float64([1, 2])
        a = as_numpy(torch.ones(2, device="cpu"), dtype=np.float64)
    assert (t.device.type, t.dtype, f.device.type, f.dtype) == ("cpu", torch.float32, "cpu", torch.float64)
    assert t.tolist() == [0.0, 1.0, 2.0] and f.tolist() == [1.0, 2.0] and a.tolist() == [1.0, 1.0]
