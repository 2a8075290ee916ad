"""Cold start: in a fresh process, importing ganmetric and the CLI, and the first metric of every family, import
none of the heavy modules they used to (issue 16).

Under ``vmap(jvp(...))`` an elementwise op between a tangent and a constant (a Python scalar,
a buffer, eval-mode BatchNorm) runs a Python decomposition whose first call imports
``torch._dynamo`` (about 2 s). The generators keep constants out of the tangents
(generators/fast_layers.py: linears as 1x1 convolutions, gains on the weights, pixel norm as
rms_norm, BatchNorms folded, the noise as a stacked sum, attention's gamma as a depthwise
convolution), mse applies its scale to the Gram and LPIPS folds its constants. LPIPS builds its
networks without importing lpips or torchvision (whose import brought torch._dynamo in), and
chunk="auto" measures its forward pass under a torch-function mode (a dispatch mode would import
torch._dynamo on entry).

One child process runs every step in turn and reports ``sys.modules`` after each: a module that a
step imports in a fresh process of its own shows up after that step (or an earlier one) here, so
each step's assertion names the step that first imported what it forbids. ``import ganmetric`` and
``--help`` come first (nothing is imported before them); the LPIPS step precedes the steps that may
import what only it forbids.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from ganmetric.generators.ganzoo_file import save_ganzoo_checkpoint
from helpers import ROOT, subprocess_env
from helpers_zoo import dcgan_parts, deepsim_state, pggan_parts

#: what neither ``import ganmetric`` nor ``ganmetric --help`` may import
HEAVY = ("matplotlib", "scipy", "lpips", "torchvision", "torch._dynamo", "ganmetric.generators.dcgan",
         "ganmetric.generators.biggan", "ganmetric.generators.stylegan2")

#: (step, what must not be in sys.modules after it); each step is a block of SCRIPT
FORBIDDEN = {
    "import ganmetric": HEAVY,
    "ganmetric --help": HEAVY,
    "chunk='auto' on a linear map": ("torch._dynamo",),
    "lpips-alex on a linear map": ("torchvision", "lpips", "torch._dynamo"),
    "dcgan-face + mse": ("torch._dynamo",),
    "dcgan-face + lpips-alex": ("torch._dynamo",),
    "stylegan1": ("torch._dynamo",),
    "bigbigan": ("torch._dynamo",),
    "deepsim file": ("torch._dynamo",),
    "pggan file": ("torch._dynamo",),
    "gan-zoo dcgan file": ("torch._dynamo",),
    "nvidia stylegan2/3": ("torch._dynamo",),
}

SCRIPT = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
files = json.loads(sys.argv[1])
report = {"steps": [], "values": {}}
def done(step):
    report["steps"].append([step, sorted(sys.modules)])

import ganmetric
done("import ganmetric")

from ganmetric_cli.main import main
try:
    main(["--help"])
except SystemExit:
    pass
done("ganmetric --help")

import torch
from ganmetric.distances import FeatureDistance
from helpers import LinearGenerator
g = torch.Generator().manual_seed(0)
G = LinearGenerator(torch.randn(16, 6, generator=g))
res = ganmetric.metric_tensor(G, FeatureDistance(lambda x: x.flatten(1)), torch.randn(6, generator=g), chunk="auto")
report["values"]["chunk"] = [res.options["chunk"], "chunk_auto" in res.meta]
done("chunk='auto' on a linear map")

D = ganmetric.load_distance("lpips-alex", lpips_backbone="random")
A = torch.randn(3 * 32 * 32, 6, generator=torch.Generator().manual_seed(0)) * 0.05
G = LinearGenerator(A, shape=(3, 32, 32))
res = ganmetric.metric_tensor(G, D, G.sample(1, seed=0), method="jacobian")
report["values"]["lpips"] = [len(res.eigvals), bool(torch.isfinite(res.H).all())]
done("lpips-alex on a linear map")

def first_metrics(G, D, k):
    z = G.sample(1, seed=0)
    ganmetric.metric_tensor(G, D, z)  # auto: jacobian
    ganmetric.metric_tensor(G, D, z, method="gn-lanczos", k=k)

G = ganmetric.load_generator("dcgan-face")
first_metrics(G, ganmetric.load_distance("mse"), 5)
done("dcgan-face + mse")
first_metrics(G, ganmetric.load_distance("lpips-alex", lpips_backbone="random"), 5)
done("dcgan-face + lpips-alex")

from ganmetric.generators.stylegan1 import StyleGAN1Generator
from ganmetric.generators.stylegan1_layers import StyledGenerator, seeded_random_
# z: mapping network, truncation around the mean style, every AdaIN and noise injection
net = seeded_random_(StyledGenerator(channels=[8, 8, 4], style_dim=8, n_mlp=2, fused=[False, False, True]))
first_metrics(StyleGAN1Generator(net, resolution=16, truncation=0.7), ganmetric.load_distance("mse"), 3)
done("stylegan1")

from ganmetric.generators.bigbigan import BigBiGANGenerator
from ganmetric.generators.bigbigan_layers import BigGANPyTorchNetwork, seeded_random_ as random_biggan_
G = BigBiGANGenerator(random_biggan_(BigGANPyTorchNetwork(channels=[16, 16, 8], attention=[1], z_chunk=4,
                                                          shared_dim=6, n_classes=3)))
first_metrics(G, ganmetric.load_distance("mse"), 3)
done("bigbigan")

for step, path in files.items():
    first_metrics(ganmetric.load_generator(path), ganmetric.load_distance("mse"), 3)
    done(step)

from ganmetric.generators.nvidia import random_nvidia_generator
from helpers_nvidia import COLD_CONFIGS
# StyleGAN2 in z (conditional: normalisation, embedding, mapping, truncation) and w+, StyleGAN3 in w and z
for a, kw, s, t in COLD_CONFIGS:
    first_metrics(random_nvidia_generator(a, kw, seed=0, latent_space=s, truncation=t), ganmetric.load_distance("mse"),
                  3)
done("nvidia stylegan2/3")
print(json.dumps(report))
"""


def first_imported(steps: list, module: str) -> str | None:
    """The first step after which ``module`` is in sys.modules, or None."""
    return next((step for step, modules in steps if module in modules), None)


@pytest.mark.slow  # a fresh process: about 15 s of CPU
@pytest.mark.pretrained("dcgan-face")
@pytest.mark.perf  # a fresh-process cold start
def test_no_step_of_a_cold_start_imports_what_it_must_not(tmp_path):
    torch.save(deepsim_state("fc6"), tmp_path / "deepsim.pt")
    save_ganzoo_checkpoint(tmp_path / "pggan.pth", *pggan_parts())
    save_ganzoo_checkpoint(tmp_path / "dcgan.pth", *dcgan_parts())
    files = {"deepsim file": "deepsim.pt", "pggan file": "pggan.pth", "gan-zoo dcgan file": "dcgan.pth"}
    env = subprocess_env()
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), env["PYTHONPATH"]])  # for helpers
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps({k: str(tmp_path / f) for k, f in files.items()})],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    steps = report["steps"]
    assert [step for step, _ in steps] == list(FORBIDDEN)  # every step ran, in this order
    for step, modules in steps:
        found = {m: first_imported(steps, m) for m in FORBIDDEN[step] if m in modules}
        assert found == {}, f"after {step!r}: " + "; ".join(f"{m} (imported by {s!r})" for m, s in found.items())
    assert report["values"] == {"chunk": [6, True], "lpips": [6, True]}
