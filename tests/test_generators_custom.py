"""Users' own generators: ``module.path:factory`` (+ ``--weights``), TorchScript and .pt2 files, the CLI routes.

The user module is written to a temporary folder and imported from the current directory,
as a user would run ``ganmetric hessian --model my_nets:make`` next to ``my_nets.py``.
"""
from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import ganmetric
from ganmetric.errors import InputError, WeightsError
from ganmetric.generators.base import ModuleGenerator
from ganmetric.testing import dense_hessian

USER_MODULE = textwrap.dedent('''
    import torch
    from torch import nn


    class LinearImages(nn.Module):
        """G(z) = A z as (1, 4, 4) images: with mse, H = 2 A^T A / 16."""

        def __init__(self, n=5, with_dim=True):
            super().__init__()
            self.lin = nn.Linear(n, 16, bias=False)
            if with_dim:
                self.latent_dim = n

        def forward(self, z):
            return self.lin(z).reshape(-1, 1, 4, 4)


    def linear():
        return LinearImages()


    def linear_no_dim():
        return LinearImages(with_dim=False)


    def unit_range():
        net = nn.Sequential(nn.Linear(3, 12), nn.Sigmoid(), nn.Unflatten(1, (3, 2, 2)))
        net.latent_dim = 3
        return net


    def tiny_generator():
        from helpers import TinyConvGenerator
        return TinyConvGenerator(n=4, seed=1, res=8)


    def broken():
        raise RuntimeError("no GPU here")


    def not_a_module():
        return 42


    def not_images():
        net = nn.Linear(3, 7)
        net.latent_dim = 3
        return net
''')


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    (tmp_path / "gm_user_nets.py").write_text(USER_MODULE)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    import sys
    sys.modules.pop("gm_user_nets", None)


@pytest.fixture(scope="module")
def mse64():
    return ganmetric.load_distance("mse", dtype="float64")


def _linear_state(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"lin.weight": torch.randn(16, 5, generator=g)}


def test_factory_module_with_weights_gives_the_closed_form_metric(user_dir, mse64):
    torch.save(_linear_state(), user_dir / "w.pt")
    G = ganmetric.load_generator("gm_user_nets:linear", weights=str(user_dir / "w.pt"), dtype="float64")
    assert isinstance(G, ModuleGenerator) and (G.latent_dim, G.resolution, G.latent_space) == (5, 4, "z")
    A = _linear_state()["lin.weight"].double()
    assert torch.equal(G.net.lin.weight, A) and not G.net.training
    res = ganmetric.metric_tensor(G, mse64, G.sample(1, seed=0), method="jacobian")
    assert torch.allclose(res.H, 2 * A.T @ A / 16, rtol=1e-12, atol=1e-14)


def test_state_dict_wrapped_under_state_dict_key_is_accepted(user_dir):
    torch.save({"state_dict": _linear_state(1), "epoch": 3}, user_dir / "ckpt.pt")
    G = ganmetric.load_generator("gm_user_nets:linear", weights=str(user_dir / "ckpt.pt"))
    assert torch.equal(G.net.lin.weight, _linear_state(1)["lin.weight"])


@pytest.mark.parametrize("edit,err", [("missing", WeightsError), ("unexpected", WeightsError),
                                      ("shape", WeightsError), ("not-a-dict", WeightsError),
                                      ("absent", InputError)])
def test_weights_load_strictly_or_fail_in_one_line(user_dir, edit, err):
    state = _linear_state()
    if edit == "missing":
        state = {}
    elif edit == "unexpected":
        state["lin.bias"] = torch.zeros(16)
    elif edit == "shape":
        state["lin.weight"] = torch.zeros(16, 6)
    elif edit == "not-a-dict":
        state = [torch.zeros(3)]
    if edit != "absent":
        torch.save(state, user_dir / "w.pt")
    with pytest.raises(err) as exc:
        ganmetric.load_generator("gm_user_nets:linear", weights=str(user_dir / "w.pt"))
    assert "\n" not in str(exc.value)


def test_latent_dim_option_output_range_and_generator_factories(user_dir, mse64):
    with pytest.raises(InputError, match="give latent_dim"):
        ganmetric.load_generator("gm_user_nets:linear_no_dim")
    assert ganmetric.load_generator("gm_user_nets:linear_no_dim", latent_dim=5).latent_dim == 5
    G = ganmetric.load_generator("gm_user_nets:unit_range", output_range="0,1")
    with torch.no_grad():
        x = G(G.sample(4, seed=0))
    assert x.shape == (4, 3, 2, 2) and x.min() >= -1 and x.max() <= 1 and x.min() < 0
    T = ganmetric.load_generator("gm_user_nets:tiny_generator", dtype="float64")
    assert type(T).__name__ == "TinyConvGenerator" and T.latent_dim == 4
    z0 = T.sample(1, seed=2)
    res = ganmetric.metric_tensor(T, mse64, z0, method="jacobian")
    assert torch.allclose(res.H, dense_hessian(T, mse64, z0), rtol=1e-8, atol=1e-12)
    with pytest.raises(InputError, match="latent space"):
        ganmetric.load_generator("gm_user_nets:tiny_generator", latent_space="w")


@pytest.mark.parametrize("spec,msg", [("gm_no_such_module:f", "cannot import module"),
                                      ("gm_user_nets:missing", "no function or class named missing"),
                                      ("gm_user_nets:broken", "no GPU here"),
                                      ("gm_user_nets:not_a_module", "must return a torch.nn.Module"),
                                      ("gm_user_nets:not_images", "expected images")])
def test_bad_factories_are_one_line_input_errors(user_dir, spec, msg):
    with pytest.raises(InputError, match=msg):
        ganmetric.load_generator(spec)


def test_unknown_options_are_refused(user_dir):
    with pytest.raises(InputError, match="class name cannot be set for a custom model"):
        ganmetric.load_generator("gm_user_nets:linear", class_name="blue")
    with pytest.raises(InputError, match="cannot be set for model dcgan-face"):
        ganmetric.load_generator("dcgan-face", truncation=0.5)


class _Net(torch.nn.Module):
    def __init__(self, n=6):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.fc = torch.nn.Linear(n, 3 * 4 * 4)
        with torch.no_grad():
            for p in self.fc.parameters():
                p.copy_(torch.randn(p.shape, generator=g))
        self.latent_dim = n

    def forward(self, z):
        return torch.tanh(self.fc(z)).reshape(-1, 3, 4, 4)


def _reference_metric(net, mse64, z0):
    G = ModuleGenerator(net, name="ref", latent_dim=6).double()
    return dense_hessian(G, mse64, z0)


@pytest.mark.parametrize("kind", ["torchscript", "exported"])
def test_saved_files_load_and_give_the_metric(tmp_path, kind, mse64):
    net = _Net().eval()
    if kind == "torchscript":
        path = tmp_path / "g.pt"
        torch.jit.save(torch.jit.script(net), path)
    else:
        path = tmp_path / "g.pt2"
        batch = torch.export.Dim("batch", min=1)
        torch.export.save(torch.export.export(net, (torch.zeros(2, 6),), dynamic_shapes={"z": {0: batch}}), path)
    G = ganmetric.load_generator(str(path), dtype="float64")
    assert (G.latent_dim, G.resolution) == (6, 4)
    z0 = G.sample(1, seed=0)
    with torch.no_grad():
        assert torch.allclose(G(z0), net.double()(z0), atol=1e-12)
    res = ganmetric.metric_tensor(G, mse64, z0, method="jacobian")
    assert torch.allclose(res.H, _reference_metric(_Net(), mse64, z0), rtol=1e-9, atol=1e-12)


def test_saved_file_errors(tmp_path):
    class NoDim(torch.nn.Module):
        def forward(self, z):
            return z.reshape(-1, 1, 2, 2)

    torch.jit.save(torch.jit.script(NoDim()), tmp_path / "nodim.pt")
    with pytest.raises(InputError, match="give latent_dim"):
        ganmetric.load_generator(str(tmp_path / "nodim.pt"))
    assert ganmetric.load_generator(str(tmp_path / "nodim.pt"), latent_dim=4).resolution == 2
    assert ganmetric.load_generator(str(tmp_path / "nodim.pt"), latent_dim=4, latent_space="w").latent_space == "w"
    torch.export.save(torch.export.export(_Net().eval(), (torch.zeros(2, 6),)), tmp_path / "fixed.pt2")
    with pytest.raises(InputError, match="fixed batch size 2"):
        ganmetric.load_generator(str(tmp_path / "fixed.pt2"))
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="junk.pt is not a readable saved generator") as info:
        ganmetric.load_generator(str(tmp_path / "junk.pt"))
    assert "miniz" not in str(info.value)  # torch's internal advice never reaches the user
    (tmp_path / "junk.pt2").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="junk.pt2 is not a readable saved generator"):
        ganmetric.load_generator(str(tmp_path / "junk.pt2"))
    with pytest.raises(InputError, match="not found"):
        ganmetric.load_generator(str(tmp_path / "absent.pt"))
    with pytest.raises(InputError, match="weights cannot be set for a saved generator file"):
        ganmetric.load_generator(str(tmp_path / "nodim.pt"), latent_dim=4, weights="w.pt")


def test_files_that_are_not_models_say_what_they_are(tmp_path):
    """A state dict, a photo or a result file given as the model: one line saying what it is and what to do."""
    from PIL import Image
    torch.save(_Net().state_dict(), tmp_path / "state.pt")
    with pytest.raises(InputError, match=r"saved with torch.save \(a state dict\?\).*--model module.path:factory "
                                         r"--weights .*state.pt") as info:
        ganmetric.load_generator(str(tmp_path / "state.pt"))
    assert "miniz" not in str(info.value) and "corrupted" not in str(info.value)
    Image.new("RGB", (8, 8)).save(tmp_path / "photo.jpg")
    with pytest.raises(InputError, match="photo.jpg is a JPEG image, not a generator: a model is a name from"):
        ganmetric.load_generator(str(tmp_path / "photo.jpg"))
    np.savez(tmp_path / "face.npz", eigvals=np.ones(2))
    with pytest.raises(InputError, match="face.npz is a numpy .npz archive, not a generator"):
        ganmetric.load_generator(str(tmp_path / "face.npz"))
    with pytest.raises(InputError, match="model file not found: nowhere/x.bin"):
        ganmetric.load_generator("nowhere/x.bin")


def test_a_jpeg_as_weights_is_named_not_unpickled(tmp_path, user_dir):
    """torch's advice to load with weights_only=False must never reach the user."""
    from PIL import Image
    Image.new("RGB", (8, 8)).save(tmp_path / "photo.jpg")
    with pytest.raises(WeightsError, match="photo.jpg is a JPEG image, not weights saved with torch.save") as info:
        ganmetric.load_generator("gm_user_nets:linear", weights=str(tmp_path / "photo.jpg"))
    assert "weights_only" not in str(info.value)
    with pytest.raises(WeightsError, match="photo.jpg is a JPEG image, not weights saved with torch.save"):
        ganmetric.load_distance("lpips-alex", lpips_backbone=str(tmp_path / "photo.jpg"))


def test_cli_custom_model_with_weights(user_dir):
    from ganmetric_cli.main import main
    torch.save(_linear_state(), user_dir / "w.pt")
    out = user_dir / "h.npz"
    res = CliRunner().invoke(main, ["hessian", "--model", "gm_user_nets:linear", "--weights", "w.pt", "--distance",
                                    "mse", "--method", "jacobian", "--dtype", "float64", "-q", "-o", str(out)])
    assert res.exit_code == 0, res.output
    A = _linear_state()["lin.weight"].double().numpy()
    with np.load(out, allow_pickle=False) as f:
        assert np.allclose(f["H"], 2 * A.T @ A / 16, rtol=1e-10)
    bad = CliRunner().invoke(main, ["hessian", "--model", "gm_user_nets:linear", "--weights", "absent.pt",
                                    "--distance", "mse", "-o", str(user_dir / "h2.npz")])
    assert bad.exit_code == 2 and "Invalid value for '--weights': file not found" in bad.output and "Traceback" not in bad.output
    assert not (user_dir / "h2.npz").exists()


def test_models_list_shows_latent_spaces_and_other_routes():
    from ganmetric_cli.main import main
    res = CliRunner().invoke(main, ["models", "list"])
    assert res.exit_code == 0
    line = next(ln for ln in res.output.splitlines() if ln.startswith("biggan-deep-128"))
    assert "full (256), noise (128), class (128)" in line
    assert "module.path:factory" in res.output and ".pt2" in res.output and "TorchScript" in res.output
    assert "A TorchScript file is a program: load only files you trust" in res.output  # where users decide
    help_text = CliRunner().invoke(main, ["hessian", "--help"]).output
    assert "is a program" in " ".join(help_text.split()) and "load only files you trust" in " ".join(help_text.split())
    for name in ("biggan-deep-256", "biggan-deep-512", "eyes-cdcgan", "dcgan-face"):
        assert name in res.output
