"""Cold start of LPIPS: building it and a first metric in a fresh process import neither lpips nor torchvision.

``import lpips`` imports torchvision, whose ops import ``torch._dynamo`` and sympy (about 2 s).
ganmetric builds LPIPS's backbones and scaling itself and reads the heads from the lpips
package's files without importing it (issue 16). The generator is a linear map: a
generator with eval-mode BatchNorm (TinyConvGenerator) imports ``torch._dynamo`` through
its own constant ops under forward mode, whatever the distance does.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from helpers import ROOT, subprocess_env

SCRIPT = r"""
import json, sys
import torch
import ganmetric
from helpers import LinearGenerator
D = ganmetric.load_distance("lpips-alex", lpips_backbone="random")
A = torch.randn(3 * 32 * 32, 6, generator=torch.Generator().manual_seed(0)) * 0.05
G = LinearGenerator(A, shape=(3, 32, 32))
res = ganmetric.metric_tensor(G, D, G.sample(1, seed=0), method="jacobian")
heavy = [m for m in ("torchvision", "lpips", "torch._dynamo") if m in sys.modules]
print(json.dumps({"heavy": heavy, "eigvals": len(res.eigvals), "finite": bool(torch.isfinite(res.H).all())}))
"""


@pytest.mark.slow  # a fresh process: about 4 s
@pytest.mark.perf  # a fresh-process cold start
def test_lpips_and_a_first_metric_import_neither_lpips_nor_torchvision_nor_dynamo():
    env = subprocess_env()
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), env["PYTHONPATH"]])  # for helpers
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"heavy": [], "eigvals": 6, "finite": True}
