"""Users' own distances, ``module.path:factory``: a feature map or a Distance, recorded by name and state digest,
never imported because a file's record names it."""
from __future__ import annotations

import sys

import pytest
import torch

import ganmetric
from ganmetric.distances import (DistanceSpec, FeatureDistance, check_same_distance, describe_distance, distance_meta,
                                 load_recorded_distance)
from ganmetric.distances.custom import state_sha256
from ganmetric.errors import InputError
from helpers import LinearGenerator

MODULE = "gm_user_dists"
SOURCE = '''
import os
import torch
from torch import nn
import ganmetric

class Linear(nn.Module):
    """phi(x) = W x.flatten(), W drawn from seed GM_DIST_SEED (0 unless set)."""
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(int(os.environ.get("GM_DIST_SEED", "0")))
        self.register_buffer("W", torch.randn(5, 3 * 4 * 4, generator=g, dtype=torch.float64))
    def forward(self, x):
        return x.flatten(1) @ self.W.T

def make():
    return Linear()

def quartic():
    return ganmetric.distances.FunctionDistance(lambda x, y: ((x - y) ** 4).flatten(1).sum(1), name="quartic")

class Gen(nn.Module):
    latent_dim = 4
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3 * 4 * 4)
    def forward(self, z):
        return torch.tanh(self.fc(z)).reshape(-1, 3, 4, 4)

def gen():
    return Gen()

def broken():
    raise RuntimeError("no weights here")

def number():
    return 3
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """The module above in the current directory (found there, as `python -m` finds modules)."""
    (tmp_path / f"{MODULE}.py").write_text(SOURCE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GM_DIST_SEED", raising=False)
    sys.modules.pop(MODULE, None)
    yield MODULE
    sys.modules.pop(MODULE, None)


def _linear_G():
    A = torch.randn(3 * 4 * 4, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    return LinearGenerator(A, shape=(3, 4, 4))


def test_a_feature_map_is_a_squared_feature_distance_with_the_closed_form_metric(user_module):
    D = ganmetric.load_distance(f"{user_module}:make", dtype="float64")
    assert isinstance(D, FeatureDistance) and D.has_features and D.name == f"{user_module}:make"
    W = D.phi.W
    x, y = torch.rand(2, 3, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2)).unbind(0)
    torch.testing.assert_close(D(x[None], y[None]), ((W @ (x - y).flatten()) ** 2).sum()[None], rtol=1e-12, atol=0)
    G = _linear_G()
    res = ganmetric.metric_tensor(G, D, G.sample(1, seed=0), method="jacobian")
    torch.testing.assert_close(res.H, 2 * G.A.T @ W.T @ W @ G.A, rtol=1e-12, atol=1e-12)  # H = 2 A^T W^T W A
    assert distance_meta(D) == {"distance": f"{user_module}:make", "distance_options": {"state_sha256":
                                                                                        state_sha256(D)}}
    assert describe_distance(D) == f"{user_module}:make (state sha256 {state_sha256(D)[:12]})"


def test_a_returned_distance_is_used_as_is(user_module):
    D = ganmetric.load_distance(f"{user_module}:quartic", dtype="float64")
    assert not D.has_features and D.name == f"{user_module}:quartic"  # the name the user wrote
    assert distance_meta(D)["distance_options"] == {}  # no state to digest
    x = torch.zeros(1, 3, 4, 4, dtype=torch.float64)
    torch.testing.assert_close(D(x, x + 0.5), torch.tensor([48 * 0.5 ** 4], dtype=torch.float64))


def test_state_digest_follows_the_weights_and_dtype():
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    assert state_sha256(a) == state_sha256(b) and len(state_sha256(a)) == 64
    with torch.no_grad():
        b.bias[0] += 1e-6
    assert state_sha256(a) != state_sha256(b)
    assert state_sha256(a) != state_sha256(a.double())
    assert state_sha256(torch.nn.Tanh()) is None


@pytest.mark.parametrize("factory, message", [
    ("gm_no_such_module:f", "cannot import module gm_no_such_module for the distance gm_no_such_module:f"),
    (f"{MODULE}:missing", f"module {MODULE} has no function or class named missing (from the distance"),
    (f"{MODULE}:broken", f"{MODULE}:broken() failed: RuntimeError: no weights here"),
    (f"{MODULE}:number", "must return a ganmetric Distance or a torch.nn.Module feature map (images -> features), "
                         "got int"),
])
def test_bad_factories_are_one_line_errors(user_module, factory, message):
    with pytest.raises(InputError) as err:
        ganmetric.load_distance(factory)
    assert message in str(err.value) and "\n" not in str(err.value) and err.value.argument == "distance"


def test_options_of_other_distances_are_refused(user_module):
    with pytest.raises(InputError, match=f"resize applies to lpips-alex, lpips-vgg, lpips-squeeze only, not "
                                         f"{MODULE}:make"):
        ganmetric.load_distance(f"{user_module}:make", resize=64)


def test_a_record_never_imports_the_module_and_other_weights_are_refused(user_module, monkeypatch):
    meta = distance_meta(ganmetric.load_distance(f"{user_module}:make"))
    sys.modules.pop(MODULE, None)
    with pytest.raises(InputError, match=f"^the axes was made with {MODULE}:make \\(your own code, "
                                         f"module.path:factory\\); ganmetric rebuilds only built-in distances from "
                                         f"a file's record: if you trust it, name it yourself \\(--distance "
                                         f"{MODULE}:make\\)$"):
        load_recorded_distance(meta, what="the axes")
    assert MODULE not in sys.modules  # refused before anything was imported
    again = load_recorded_distance(meta, DistanceSpec(f"{MODULE}:make"))
    assert distance_meta(again) == meta
    monkeypatch.setenv("GM_DIST_SEED", "1")  # the factory now builds other weights: another distance
    with pytest.raises(InputError, match="made with another distance: state sha256 [0-9a-f]{64} there, "
                                         "[0-9a-f]{64} here"):
        check_same_distance(meta, ganmetric.load_distance(f"{user_module}:make"))
    with pytest.raises(InputError, match=f"distance {MODULE}:make there, mse here"):
        load_recorded_distance(meta, DistanceSpec("mse"))


def test_hessian_command_with_a_user_distance(user_module, tmp_path):
    from click.testing import CliRunner
    from ganmetric_cli.main import main
    model = ["--model", f"{user_module}:gen", "--dtype", "float64"]
    res = CliRunner().invoke(main, ["hessian", *model, "--distance", f"{user_module}:make", "--out",
                                    str(tmp_path / "h.npz")])
    assert res.exit_code == 0, res.output
    assert f"distance {MODULE}:make (state sha256 " in res.output
    saved = ganmetric.load_result(tmp_path / "h.npz")
    assert saved.meta["distance"] == f"{MODULE}:make" and len(saved.meta["distance_options"]["state_sha256"]) == 64
    # a file recording it: explore imports the distance's module only when --distance names it
    assert CliRunner().invoke(main, ["axes", "export", str(tmp_path / "h.npz"), "--top", "2", "--out",
                                     str(tmp_path / "a.npz")]).exit_code == 0
    explore = ["explore", *model, "--axes", str(tmp_path / "a.npz"), "--axes-list", "0", "--steps", "3",
               "--calibrate", "0.01", "-q", "--out"]
    sys.modules.pop(MODULE, None)
    res = CliRunner().invoke(main, [*explore, str(tmp_path / "g.png")])
    assert res.exit_code == 2 and res.output.splitlines()[-1].endswith(f"name it yourself (--distance {MODULE}:make)")
    assert not (tmp_path / "g.png").exists()
    res = CliRunner().invoke(main, [*explore, str(tmp_path / "g.png"), "--distance", f"{MODULE}:make"])
    assert res.exit_code == 0, res.output
    assert f"calibrated to {MODULE}:make distances 0.01" in res.output
    res = CliRunner().invoke(main, ["hessian", *model, "--distance", "no:such:thing", "--out",
                                    str(tmp_path / "bad.npz")])
    assert res.exit_code == 2 and "'no:such:thing' is not one of mse, lpips-alex" in res.output
    assert "module.path:factory" in res.output and not (tmp_path / "bad.npz").exists()


def _documented_example(folder) -> str:
    """Write the docs' own-distance example (docs/models.md, "Your own distance": its heredoc, my_feats.py) and the
    user's classifier weights (a ResNet-18 with 10 classes, seeded random weights here) into ``folder``; return
    the page's command."""
    import re
    from pathlib import Path

    import torchvision
    page = (Path(__file__).resolve().parents[1] / "docs" / "models.md").read_text()
    block = re.search(r"^```bash\ncat > my_feats.py <<'PY'\n(.*?)^PY\n(ganmetric [^\n]+)\n```", page, re.S | re.M)
    assert block is not None, "the own-distance example moved"
    (folder / "my_feats.py").write_text(block.group(1))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # torchvision's initialisation draws from the global generator
        torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), folder / "my_resnet18.pt")
    return block.group(2)


def test_the_documented_example_is_the_classifiers_squared_feature_distance(tmp_path, monkeypatch):
    import torchvision
    _documented_example(tmp_path)
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("my_feats", None)
    D = ganmetric.load_distance("my_feats:stage3", dtype="float64")
    assert isinstance(D, FeatureDistance) and not D.training and len(D.options["state_sha256"]) == 64
    net = torchvision.models.resnet18(num_classes=10).double().eval()  # the same net, built independently
    net.load_state_dict(torch.load(tmp_path / "my_resnet18.pt", weights_only=True))
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 2 - 1
    # the example's constants are float32 buffers (then made float64 with the distance)
    mean = torch.tensor([0.485, 0.456, 0.406]).double().view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).double().view(1, 3, 1, 1)
    h = (x + 1) / 2
    h = net.maxpool(net.relu(net.bn1(net.conv1((h - mean) / std))))
    f = net.layer3(net.layer2(net.layer1(h))).flatten(1)
    torch.testing.assert_close(D(x[:1], x[1:]), ((f[0] - f[1]) ** 2).sum()[None], rtol=1e-10, atol=0)
    sys.modules.pop("my_feats", None)


@pytest.mark.slow  # a ResNet-18's layer3 through DCGAN's 100 latent directions: about 10 s
@pytest.mark.pretrained("dcgan-face")
def test_the_documented_example_command_runs(tmp_path, monkeypatch):
    import shlex

    from click.testing import CliRunner

    from ganmetric_cli.main import main
    command = _documented_example(tmp_path)
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("my_feats", None)
    res = CliRunner().invoke(main, shlex.split(command)[1:])
    assert res.exit_code == 0, res.output
    saved = ganmetric.load_result(tmp_path / "face_resnet.npz")
    assert saved.meta["distance"] == "my_feats:stage3" and len(saved.meta["distance_options"]["state_sha256"]) == 64
    H = torch.as_tensor(saved.H, dtype=torch.float64)
    assert H.shape == (100, 100) and torch.isfinite(H).all() and H.abs().max() > 0
    torch.testing.assert_close(H, H.T, rtol=0, atol=1e-6 * H.abs().max().item())
    assert torch.linalg.eigvalsh(H).min() > -1e-5 * H.abs().max()  # 2 J^T J: positive semi-definite
    sys.modules.pop("my_feats", None)
