"""pytorch_GAN_zoo PGGAN and DCGAN (families pggan, gan-zoo-dcgan): the published .pth, strict loading, images."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ganmetric
from ganmetric.errors import InputError, WeightsError
from ganmetric.generators.ganzoo_file import save_ganzoo_checkpoint
from helpers_zoo import ZOO, dcgan_parts, dcgan_reference, pggan_parts, pggan_reference, rel_err


def _write(path, config, state, **kw):
    save_ganzoo_checkpoint(path, config, state, **kw)
    return str(path)


@pytest.mark.parametrize("alpha, loss", [(0, "WGANGP"), (0.4, "WGANGP"), (0, "DCGAN")])
def test_pggan_images_match_the_repository_formula(tmp_path, alpha, loss):
    config, state = pggan_parts()
    config.update(alpha=alpha, lossCriterion=loss)
    path = _write(tmp_path / "pgan.pth", config, state)
    G = ganmetric.load_generator("pggan", weights=path, dtype="float64")
    assert (G.latent_dim, G.resolution) == (8, 16)
    z = G.sample(3, seed=2)
    assert rel_err(G(z), pggan_reference(config, state, z)) < 1e-12
    G32 = ganmetric.load_generator(path)  # found by its layout
    assert G32.name == path and rel_err(G32(z.float()), pggan_reference(config, state, z)) < 1e-5
    assert ganmetric.generators.model_meta(G32)["model_options"]["family"] == "pggan"


def test_pggan_legacy_keys_without_module_load_and_both_forms_are_refused(tmp_path):
    config, legacy = pggan_parts(legacy=True)
    _, modern = pggan_parts()
    G = ganmetric.load_generator("pggan", weights=_write(tmp_path / "old.pth", config, legacy), dtype="float64")
    z = G.sample(2)
    assert rel_err(G(z), pggan_reference(config, modern, z)) < 1e-12
    both = {**modern, "formatLayer.weight": legacy["formatLayer.weight"]}
    with pytest.raises(WeightsError, match="avgG holds formatLayer.weight twice"):
        ganmetric.load_generator("pggan", weights=_write(tmp_path / "both.pth", config, both))


def test_dcgan_runs_in_eval_mode_row_by_row(tmp_path):
    config, state = dcgan_parts()
    path = _write(tmp_path / "dcgan.pth", config, state)
    G = ganmetric.load_generator("gan-zoo-dcgan", weights=path, dtype="float64")
    assert (G.latent_dim, G.resolution) == (10, 32)
    z = G.sample(4, seed=1)
    out = G(z)
    assert rel_err(out, dcgan_reference(config, state, z)) < 1e-12
    assert torch.allclose(G(z[2:3]), out[2:3], rtol=0, atol=1e-12)  # a code's image does not depend on the batch


def test_layers_and_sefa_use_the_format_layer(tmp_path):
    from ganmetric.axes import sefa_directions
    from ganmetric.distances import generator_layers
    config, state = pggan_parts()
    G = ganmetric.load_generator("pggan", weights=_write(tmp_path / "p.pth", config, state))
    assert [i.name for i in generator_layers(G) if i.usable][:2] == ["formatLayer", "groupScale0.0"]
    d = sefa_directions(G, k=3)
    W = state["formatLayer.module.weight"].double().T.numpy()
    W = W / np.linalg.norm(W, axis=0)
    assert d.info["layers"] == ["formatLayer"]
    np.testing.assert_allclose(d.values, np.linalg.eigvalsh(W @ W.T)[::-1][:3], rtol=1e-9)
    config, state = dcgan_parts()
    G = ganmetric.load_generator("gan-zoo-dcgan", weights=_write(tmp_path / "d.pth", config, state))
    assert sefa_directions(G, k=2).info["layers"] == ["formatLayer"]


def test_the_published_format_pickles_base_config(tmp_path):
    """The file holds models.utils.config.BaseConfig (as BaseGAN.save writes it), which weights_only refuses alone."""
    import pickletools
    import zipfile
    config, state = dcgan_parts()
    path = _write(tmp_path / "d.pth", config, state)
    with zipfile.ZipFile(path) as zf:
        data = zf.read(next(n for n in zf.namelist() if n.endswith("data.pkl")))
    assert any(op.name == "GLOBAL" and arg == "models.utils.config BaseConfig" for op, arg, _ in pickletools.genops(data))
    with pytest.raises(Exception, match="models.utils.config.BaseConfig"):
        torch.load(path, weights_only=True)


def _pickled_config_with(path, value):
    """A checkpoint whose config holds ``value`` (written with the stand-in class, then checked by the reader)."""
    config, state = dcgan_parts()
    config["extra"] = value
    return _write(path, config, state)


def test_configs_holding_more_than_plain_values_are_refused(tmp_path):
    with pytest.raises(WeightsError, match=r"its pickled config holds Tensor at config.extra; ganmetric reads only "
                                           r"plain values"):
        ganmetric.load_generator("gan-zoo-dcgan", weights=_pickled_config_with(tmp_path / "t.pth", torch.ones(2)))
    with pytest.raises(WeightsError, match=r"holds a pickled collections.deque; ganmetric reads only tensors"):
        import collections
        ganmetric.load_generator("gan-zoo-dcgan", weights=_pickled_config_with(tmp_path / "d.pth",
                                                                             collections.deque([1])))


def test_a_pickle_that_would_run_code_runs_nothing(tmp_path):
    marker = tmp_path / "MARKER"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    config, state = dcgan_parts()
    torch.save({"config": Evil(), "netG": state, "netD": {}, "avgG": state}, tmp_path / "evil.pth")
    for call in (lambda: ganmetric.load_generator(str(tmp_path / "evil.pth")),
                 lambda: ganmetric.load_generator("gan-zoo-dcgan", weights=str(tmp_path / "evil.pth"))):
        with pytest.raises(WeightsError, match=r"holds a pickled io.open; ganmetric .* never runs code"):
            call()
    assert not marker.exists()


def test_bad_checkpoints_one_line_each(tmp_path):
    config, state = pggan_parts()
    pg = _write(tmp_path / "pg.pth", config, state)
    dconfig, dstate = dcgan_parts()
    dc = _write(tmp_path / "dc.pth", dconfig, dstate)
    own = tmp_path / "my-pggan.json"  # a user's config naming the size it expects
    own.write_text('{"name": "my-pggan", "family": "pggan", "resolution": 256, "latent_spaces": {"z": 512}}')
    cases = [
        (lambda: ganmetric.load_generator("gan-zoo-dcgan", weights=pg),
         "pg.pth holds a pytorch_GAN_zoo pggan model, not a gan-zoo-dcgan: use the model 'pggan'"),
        (lambda: ganmetric.load_generator("pggan-celebahq-256", weights=pg),
         "model pggan-celebahq-256 expects 6196db68..., got"),
        (lambda: ganmetric.load_generator(str(own), weights=pg),
         "pg.pth holds a 16 px pggan with 8-d codes, but model my-pggan is 256 px with 512-d codes"),
        (lambda: ganmetric.load_generator("pggan", weights=_write(tmp_path / "m.pth", config,
                                                                  {k: v for k, v in state.items() if "toRGB" not in k})),
         "avgG of"),
        (lambda: ganmetric.load_generator("pggan", weights=_write(tmp_path / "x.pth", config,
                                                                  {**state, "extra.module.weight": torch.ones(1)})),
         "Unexpected key"),
        (lambda: ganmetric.load_generator("gan-zoo-dcgan", weights=_write(tmp_path / "w.pth", {**dconfig, "depth": 3},
                                                                          dstate)), "avgG of"),
        (lambda: ganmetric.load_generator("pggan", weights=str(tmp_path / "absent.pth")), "weights file not found"),
    ]
    torch.save({"config": {"dimG": 4}, "netG": dstate}, tmp_path / "noavg.pth")
    cases.append((lambda: ganmetric.load_generator("gan-zoo-dcgan", weights=str(tmp_path / "noavg.pth")),
                  "has no avgG (the average generator the authors use)"))
    torch.save(dstate, tmp_path / "sd.pth")
    cases.append((lambda: ganmetric.load_generator("pggan", weights=str(tmp_path / "sd.pth")),
                  "expected a pytorch_GAN_zoo checkpoint (keys config, netG, netD, avgG)"))
    for call, match in cases:
        with pytest.raises((WeightsError, InputError)) as info:
            call()
        assert match in str(info.value) and "\n" not in str(info.value), str(info.value)
    assert ganmetric.load_generator(dc).latent_dim == 10


@pytest.mark.skipif(not ZOO.is_dir(), reason="the shared reference fixtures are not here")
def test_pgan_fixture_made_with_the_repository(tmp_path):
    ref = np.load(ZOO / "ganzoo_pgan_ref.npz")
    z = torch.from_numpy(ref["z"])
    with torch.no_grad():
        assert rel_err(ganmetric.load_generator(str(ZOO / "ganzoo_pgan.pth"))(z), ref["img_avgG"]) < 1e-5
        G64 = ganmetric.load_generator("pggan", weights=str(ZOO / "ganzoo_pgan.pth"), dtype="float64")
        assert rel_err(G64(z.double()), ref["img_avgG_f64"]) < 1e-9
        assert rel_err(G64(z.double()), ref["img_netG"]) > 1e-2  # avgG is the generator used, not netG


@pytest.mark.skipif(not ZOO.is_dir(), reason="the shared reference fixtures are not here")
def test_dcgan_fixture_made_with_the_repository_in_eval_mode():
    ref = np.load(ZOO / "ganzoo_dcgan_ref.npz")
    z = torch.from_numpy(ref["z"])
    G = ganmetric.load_generator(str(ZOO / "ganzoo_dcgan.pth"))
    with torch.no_grad():
        assert rel_err(G(z), ref["img_avgG_eval"]) < 1e-5
        G64 = ganmetric.load_generator("gan-zoo-dcgan", weights=str(ZOO / "ganzoo_dcgan.pth"), dtype="float64")
        assert rel_err(G64(z.double()), ref["img_avgG_eval_f64"]) < 1e-9
        # the authors ran avgG in train mode: batch statistics of these 4 codes, not a function of one code
        assert rel_err(G(z), ref["img_avgG_train_batch"]) > 1e-2
