"""BigGAN adapter: subspaces, sampling, strict loading, and the metric against a dense float64 reference.

The model is a small random-weight BigGAN-deep built from the package's own ``BigGANConfig``
(4 blocks, channel width 4, 16 px, 10 classes, noise/embedding size 16), initialised so that
it is a fair test: the final batch norm's affine parameters (left uninitialised by the
package) set, random stored batch-norm statistics per truncation, the self-attention gain
non-zero, and the spectral-norm vectors converged by power iteration.
"""
from __future__ import annotations

import importlib.util
import json

import pytest
import torch

import ganmetric
from ganmetric.errors import InputError, WeightsError
from ganmetric.generators.biggan import BigGANGenerator
from ganmetric.testing import dense_hessian
from helpers_models import CONFIG, D_HALF, small_biggan  # (also the oracle's and paths' BigGAN)

# looked up, not imported: importing it (scipy.stats) at collection cost every run's start ~1 s
pytestmark = pytest.mark.skipif(importlib.util.find_spec("pytorch_pretrained_biggan") is None,
                                reason="the biggan extra is not installed (pip install -e \".[biggan]\")")


@pytest.fixture(scope="module")
def mse64():
    return ganmetric.load_distance("mse", dtype="float64")


def _gen(space, **kw):
    kw.setdefault("class_index", 3)
    return BigGANGenerator(small_biggan(), name="tiny-biggan", latent_space=space, **kw).double()


@pytest.mark.parametrize("space,dim", [("noise", D_HALF), ("class", D_HALF), ("full", 2 * D_HALF)])
def test_metric_matches_dense_reference_in_each_subspace(space, dim, mse64):
    G = _gen(space, truncation=0.5)
    assert G.latent_dim == dim and G.latent_spaces == ("full", "noise", "class")
    z0 = G.sample(1, seed=1)
    H_ref = dense_hessian(G, mse64, z0)
    ref_vals = torch.linalg.eigvalsh(H_ref).flip(0)
    full = ganmetric.metric_tensor(G, mse64, z0, method="jacobian")
    assert torch.linalg.norm(full.H - H_ref) <= 1e-6 * torch.linalg.norm(H_ref)
    top = ganmetric.metric_tensor(G, mse64, z0, method="gn-lanczos", k=5, tol=1e-12)
    assert torch.allclose(top.eigvals, ref_vals[:5], rtol=1e-6, atol=1e-12 * ref_vals[0])
    assert ref_vals[0] > 0


def test_subspaces_are_slices_of_the_full_conditioning_vector():
    full, noise, klass = _gen("full"), _gen("noise"), _gen("class")
    ref = full.reference
    assert torch.equal(noise.reference, ref) and torch.equal(klass.reference, ref)
    # the reference's class part is the embedding column of class_index
    assert torch.equal(ref[D_HALF:], full.biggan.embeddings.weight[:, 3])
    zn, zc = torch.randn(2, D_HALF, dtype=torch.float64), torch.randn(2, D_HALF, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(noise(zn), full(torch.cat([zn, ref[D_HALF:].expand(2, -1)], 1)), atol=1e-12)
        assert torch.allclose(klass(zc), full(torch.cat([ref[:D_HALF].expand(2, -1), zc], 1)), atol=1e-12)


def test_forward_equals_the_package_forward_with_a_one_hot_class():
    G = _gen("noise", truncation=0.6)
    z = G.sample(3, seed=2)
    onehot = torch.zeros(3, CONFIG["num_classes"], dtype=torch.float64)
    onehot[:, 3] = 1
    with torch.no_grad():
        ours, theirs = G(z), G.biggan(z, onehot, 0.6)
    assert ours.shape == (3, 3, 16, 16) and ours.abs().max() <= 1
    assert torch.allclose(ours, theirs, atol=1e-12)


def test_sample_draws_truncated_noise_and_the_chosen_class():
    G = _gen("full", truncation=0.4)
    z = G.sample(50, seed=7)
    assert z.shape == (50, 2 * D_HALF)
    assert torch.equal(z, G.sample(50, seed=7)) and not torch.equal(z, G.sample(50, seed=8))
    assert z[:, :D_HALF].abs().max() <= 2 * 0.4 + 1e-6  # truncated to [-2, 2], times the truncation
    assert torch.equal(z[:, D_HALF:], G.biggan.embeddings.weight[:, 3].expand(50, -1))
    unconditioned = BigGANGenerator(small_biggan(), latent_space="class").double()
    zc = unconditioned.sample(40, seed=0)  # no class chosen: classes drawn with the seed
    cols = unconditioned.biggan.embeddings.weight.T
    assert all(any(torch.equal(r, c) for c in cols) for r in zc)
    assert len({tuple(r.tolist()) for r in zc}) > 1
    with pytest.raises(InputError, match="seeds"):
        G.sample(1, seed=-1)


def test_continuous_class_embedding_and_truncation_change_the_image():
    emb = torch.linspace(-1, 1, D_HALF, dtype=torch.float64)
    G = _gen("noise", class_embedding=emb)
    assert torch.allclose(G.reference[D_HALF:], emb)
    z = G.sample(1, seed=0)
    with torch.no_grad():
        a = G(z)
        b = _gen("noise")(z)
        c = _gen("noise", class_embedding=emb, truncation=0.3)(z)
    assert not torch.allclose(a, b) and not torch.allclose(a, c)


def test_deterministic_row_independent_and_torch_func_ready(mse64):
    G = _gen("full")
    z = G.sample(4, seed=3)
    with torch.no_grad():
        batch = G(z)
        assert torch.equal(batch, G(z))
        assert torch.allclose(batch[1:2], G(z[1:2]), atol=1e-12)
    from ganmetric.hessian import probe_determinism
    from ganmetric.hessian.objective import Objective
    probe_determinism(Objective(G, mse64, z[0]))
    V = torch.randn(3, 1, G.latent_dim, dtype=torch.float64)
    out = torch.func.vmap(lambda v: torch.func.jvp(G, (z[:1],), (v,))[1])(V)
    eps = 1e-6
    fd = (G(z[:1] + eps * V[0]) - G(z[:1] - eps * V[0])) / (2 * eps)
    assert torch.allclose(out[0], fd, atol=1e-6)


@pytest.mark.parametrize("kw,msg", [(dict(truncation=0.0), "truncation"), (dict(truncation=1.5), "truncation"),
                                    (dict(class_index=10), "class index"), (dict(latent_space="w"), "latent space"),
                                    (dict(class_embedding=torch.zeros(5)), "class_embedding must have shape")])
def test_bad_options_are_one_line_input_errors(kw, msg):
    with pytest.raises(InputError, match=msg):
        BigGANGenerator(small_biggan(), **{"class_index": 3, **kw})


def _save_folder(tmp_path, state):
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    torch.save(state, tmp_path / "pytorch_model.bin")
    return tmp_path


def test_weights_folder_round_trip_loads_strictly(tmp_path):
    model = small_biggan(seed=4)
    folder = _save_folder(tmp_path, model.state_dict())
    G = ganmetric.load_generator("biggan-deep-128", weights=str(folder), latent_space="class", class_index=2,
                                 truncation=0.8, dtype="float64")
    assert isinstance(G, BigGANGenerator) and G.latent_space == "class" and G.latent_dim == D_HALF
    z = G.sample(2, seed=0)
    ref = BigGANGenerator(model, latent_space="class", class_index=2, truncation=0.8).double()
    with torch.no_grad():
        assert torch.allclose(G(z), ref(z), atol=1e-12)


@pytest.mark.parametrize("edit", ["missing", "unexpected", "shape"])
def test_mismatched_checkpoints_are_refused(tmp_path, edit):
    state = small_biggan().state_dict()
    if edit == "missing":
        state.pop("generator.gen_z.weight_v")
    elif edit == "unexpected":
        state["generator.extra.weight"] = torch.zeros(3)
    else:
        state["embeddings.weight"] = torch.zeros(D_HALF, 11)
    folder = _save_folder(tmp_path, state)
    with pytest.raises(WeightsError, match="do not fit"):
        ganmetric.load_generator("biggan-deep-128", weights=str(folder))


def test_offline_download_is_one_clear_weights_error(monkeypatch):
    import pytorch_pretrained_biggan
    import requests

    def offline(*args, **kwargs):
        raise requests.exceptions.ConnectionError("Failed to resolve 's3.amazonaws.com'")

    monkeypatch.setattr(pytorch_pretrained_biggan, "cached_path", offline)
    with pytest.raises(WeightsError, match="could not download BigGAN weights 'biggan-deep-256'") as err:
        ganmetric.load_generator("biggan-deep-256", latent_space="noise")
    assert "\n" not in str(err.value) and "--weights DIR" in str(err.value)


def test_incomplete_weights_folder_and_wrong_options(tmp_path):
    with pytest.raises(InputError, match="config.json"):
        ganmetric.load_generator("biggan-deep-128", weights=str(tmp_path))
    with pytest.raises(InputError, match="class name cannot be set for model biggan-deep-128"):
        ganmetric.load_generator("biggan-deep-128", class_name="blue")
    with pytest.raises(InputError, match="latent space"):
        ganmetric.load_generator("biggan-deep-128", latent_space="w")


def test_cli_latent_space_class_index_and_truncation_reach_the_builder(tmp_path):
    from click.testing import CliRunner
    from ganmetric_cli.main import main
    model = small_biggan()
    (tmp_path / "w").mkdir()
    folder = _save_folder(tmp_path / "w", model.state_dict())
    out = tmp_path / "h.npz"
    res = CliRunner().invoke(main, ["hessian", "--model", "biggan-deep-128", "--weights", str(folder),
                                    "--latent-space", "class", "--class-index", "2", "--truncation", "0.5",
                                    "--distance", "mse", "--method", "jacobian", "--dtype", "float64", "-q",
                                    "-o", str(out)])
    assert res.exit_code == 0, res.output
    loaded = ganmetric.load_result(out)
    G = BigGANGenerator(model, latent_space="class", class_index=2, truncation=0.5).double()
    assert loaded.meta["latent_space"] == "class" and loaded.H.shape == (D_HALF, D_HALF)
    assert torch.allclose(torch.as_tensor(loaded.z).reshape(-1), G.sample(1, seed=0)[0])
    bad = CliRunner().invoke(main, ["hessian", "--model", "biggan-deep-128", "--weights", str(folder),
                                    "--truncation", "2", "--distance", "mse", "-o", str(tmp_path / "b.npz")])
    assert bad.exit_code == 2 and "truncation must be in (0, 1]" in bad.output
