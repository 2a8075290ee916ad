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
