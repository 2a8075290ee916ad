"""Layers written for the cold start: the same numbers as the plain ops, and no torch._dynamo on a first metric."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from ganmetric.generators.fast_layers import ConvLinear, EqualizedConv2d, pixel_norm
from ganmetric.generators.ganzoo_file import save_ganzoo_checkpoint
from helpers import subprocess_env
from helpers_zoo import dcgan_parts, deepsim_state, pggan_parts


def test_conv_linear_is_the_linear_map_times_its_gain():
    g = torch.Generator(device="cpu").manual_seed(0)
    layer = ConvLinear(7, 5, gain=0.3).double()
    x = torch.randn(4, 7, generator=g, dtype=torch.float64)
    assert isinstance(layer, torch.nn.Linear) and set(layer.state_dict()) == {"weight", "bias"}
    torch.testing.assert_close(layer(x), 0.3 * F.linear(x, layer.weight, layer.bias), rtol=1e-12, atol=1e-12)
    conv = EqualizedConv2d(3, 4, 3, padding=1, gain=2.0).double()
    y = torch.randn(2, 3, 5, 5, generator=g, dtype=torch.float64)
    torch.testing.assert_close(conv(y), 2.0 * F.conv2d(y, conv.weight, conv.bias, padding=1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(3, 6), (2, 6, 4, 5)])
def test_pixel_norm_is_pggans_formula(shape):
    x = torch.randn(*shape, generator=torch.Generator(device="cpu").manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(pixel_norm(x), x * ((x ** 2).mean(dim=1, keepdim=True) + 1e-8).rsqrt(),
                               rtol=1e-12, atol=1e-12)


SCRIPT = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import ganmetric
out = {}
for path in sys.argv[1:]:
    G = ganmetric.load_generator(path)
    D = ganmetric.load_distance("mse")
    z = G.sample(1, seed=0)
    ganmetric.metric_tensor(G, D, z)
    ganmetric.metric_tensor(G, D, z, method="gn-lanczos", k=3)
    out[type(G).__name__] = "torch._dynamo" in sys.modules
print(json.dumps(out))
"""


@pytest.mark.slow  # a fresh process: about 5 s
def test_first_metric_of_each_family_imports_no_dynamo(tmp_path):
    """Linears as 1x1 convolutions, gains on the weights, pixel norm as rms_norm, BatchNorm folded: the first
    forward-mode products run no Python decomposition (which would import torch._dynamo, ~2 s)."""
    torch.save(deepsim_state("fc6"), tmp_path / "deepsim.pt")
    save_ganzoo_checkpoint(tmp_path / "pggan.pth", *pggan_parts())
    save_ganzoo_checkpoint(tmp_path / "dcgan.pth", *dcgan_parts())
    files = [str(tmp_path / f) for f in ("deepsim.pt", "pggan.pth", "dcgan.pth")]
    proc = subprocess.run([sys.executable, "-c", SCRIPT, *files], capture_output=True, text=True, env=subprocess_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {
        "DeePSimGenerator": False, "PGGANGenerator": False, "ZooDCGANGenerator": False}
