"""Cold start: the first metric in a fresh process runs no Python decomposition, so it never imports torch._dynamo.

Under ``vmap(jvp(...))`` an elementwise op between a tangent and a constant (a Python scalar,
a buffer, eval-mode BatchNorm) runs a Python decomposition whose first call imports
``torch._dynamo`` (about 2 s). The DCGAN generators fold their BatchNorms, mse applies its
scale to the Gram and LPIPS folds its constants (issue 16). LPIPS builds its networks without
importing lpips or torchvision (whose import brought torch._dynamo in), so for LPIPS too
torch._dynamo is never imported.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import subprocess_env

SCRIPT = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import ganmetric
G = ganmetric.load_generator("dcgan-face")
name = sys.argv[1]
D = ganmetric.load_distance(name, **({} if name == "mse" else {"lpips_backbone": "random"}))
before = "torch._dynamo" in sys.modules
z = G.sample(1, seed=0)
ganmetric.metric_tensor(G, D, z)  # auto: jacobian
ganmetric.metric_tensor(G, D, z, method="gn-lanczos", k=5)
print(json.dumps({"dynamo_before": before, "dynamo_after": "torch._dynamo" in sys.modules}))
"""


def _first_metrics(distance: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, distance], capture_output=True, text=True,
                          env=subprocess_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # a fresh process: about 4 s
@pytest.mark.pretrained("dcgan-face")
@pytest.mark.perf  # a fresh-process cold start
def test_dcgan_face_mse_never_imports_dynamo():
    assert _first_metrics("mse") == {"dynamo_before": False, "dynamo_after": False}


@pytest.mark.slow  # a fresh process: about 6 s
@pytest.mark.pretrained("dcgan-face")
@pytest.mark.perf  # a fresh-process cold start
def test_dcgan_face_lpips_never_imports_dynamo():
    assert _first_metrics("lpips-alex") == {"dynamo_before": False, "dynamo_after": False}


ZOO_SCRIPT = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import ganmetric
from ganmetric.generators.bigbigan import BigBiGANGenerator
from ganmetric.generators.bigbigan_layers import BigGANPyTorchNetwork, seeded_random_ as random_biggan_
from ganmetric.generators.stylegan1 import StyleGAN1Generator
from ganmetric.generators.stylegan1_layers import StyledGenerator, seeded_random_
if sys.argv[1] == "bigbigan":
    G = BigBiGANGenerator(random_biggan_(BigGANPyTorchNetwork(channels=[16, 16, 8], attention=[1], z_chunk=4, shared_dim=6,
                                                          n_classes=3)))
else:  # z: mapping network, truncation around the mean style, every AdaIN and noise injection
    net = seeded_random_(StyledGenerator(channels=[8, 8, 4], style_dim=8, n_mlp=2, fused=[False, False, True]))
    G = StyleGAN1Generator(net, resolution=16, truncation=0.7)
D = ganmetric.load_distance("mse")
z = G.sample(1, seed=0)
ganmetric.metric_tensor(G, D, z)
ganmetric.metric_tensor(G, D, z, method="gn-lanczos", k=3)
print(json.dumps({"dynamo": "torch._dynamo" in sys.modules}))
"""


@pytest.mark.slow  # a fresh process each: about 4 s
@pytest.mark.parametrize("family", ["stylegan1", "bigbigan"])
@pytest.mark.perf  # a fresh-process cold start
def test_stylegan1_and_bigbigan_never_import_dynamo(family):
    """Their layers keep constants out of the tangents (generators/fast_layers.py): linear biases as 1x1
    convolutions, the noise as a stacked sum, BatchNorms folded, attention's gamma as a depthwise convolution."""
    proc = subprocess.run([sys.executable, "-c", ZOO_SCRIPT, family], capture_output=True, text=True,
                          env=subprocess_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"dynamo": False}
