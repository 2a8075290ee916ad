"""NVIDIA pickles as generators: NVIDIA's own reference images, latent spaces and options, the record, bad input."""
from __future__ import annotations

import copy
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import ganmetric
from ganmetric.errors import InputError, UnknownSourceWarning, WeightsError
from ganmetric.generators.nvidia import family, load_nvidia_pickle, pickles, random_nvidia_generator
from ganmetric.testing import dense_hessian
from helpers_nvidia import (COND_KWARGS, OWN_SOURCE, SG2_KWARGS, SG3_KWARGS, generator_record, marker_source,
                            perturbed, write_snapshot)

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT.parent / "shared" / "fixtures" / "zoo"
FIXTURES = ("nvlabs_sg2ada_cond", "nvlabs_sg2_marker", "nvlabs_sg3t", "nvlabs_sg3r")
needs_zoo = pytest.mark.skipif(not (ZOO / "nvlabs_sg3t.pkl").is_file(), reason="../shared/fixtures/zoo is not here")


def _load(path, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownSourceWarning)
        return ganmetric.load_generator(str(path), **options)


def _rel(got: torch.Tensor, ref: np.ndarray) -> float:
    return float(np.abs(got.detach().double().numpy() - ref).max() / np.abs(ref).max())


@pytest.fixture(scope="module")
def cond_file(tmp_path_factory):
    """A conditional StyleGAN2 pickle written in NVIDIA's format, with the generator that made it."""
    G = perturbed(random_nvidia_generator("stylegan2", COND_KWARGS, seed=5, latent_space="z", class_index=2))
    path = tmp_path_factory.mktemp("nv") / "cond.pkl"
    write_snapshot(path, generator_record(G, COND_KWARGS))
    return path, G


@pytest.fixture(scope="module")
def sg3_file(tmp_path_factory):
    G = perturbed(random_nvidia_generator("stylegan3", SG3_KWARGS, seed=6))
    path = tmp_path_factory.mktemp("nv") / "sg3.pkl"
    write_snapshot(path, generator_record(G, SG3_KWARGS))
    return path, G


# ---- NVIDIA's own images (fixtures made with stylegan2-ada-pytorch and stylegan3) ----

@needs_zoo
@pytest.mark.parametrize("stem", FIXTURES)
def test_reproduces_nvidias_reference_images(stem, tmp_path, monkeypatch):
    """z (psi 1 and 0.7, one code at a time), w, w+, network G, noise none: within 1e-5 of max|ref| (NVIDIA's own
    float32 floor is ~1e-6); float64 too. The marker fixture's source would create a file if run: it must not."""
    marker = tmp_path / "marker"
    monkeypatch.setenv("GM_MARKER", str(marker))
    # the file is read (weights-only unpickling, the cost of a load) once; the other loads build from a copy of it
    read = pickles.read_network_pickle(ZOO / f"{stem}.pkl")

    def read_again(file):
        assert Path(file) == ZOO / f"{stem}.pkl"
        return copy.deepcopy(read)
    monkeypatch.setattr(family, "read_network_pickle", read_again)
    R = np.load(ZOO / f"{stem}_ref.npz")
    path = ZOO / f"{stem}.pkl"
    classes = [int(k) for k in R["c"].argmax(1)] if R["c"].shape[1] else [None] * len(R["z"])
    kw = lambda k: {} if k is None else {"class_index": k}  # noqa: E731
    z = torch.from_numpy(R["z"])

    def by_class(**options):  # a conditional model's codes one class at a time; an unconditional one's in one batch
        if classes[0] is None:
            return _load(path, latent_space="z", **options)(z)
        return torch.cat([_load(path, latent_space="z", class_index=k, **options)(z[i:i + 1])
                          for i, k in enumerate(classes)])

    for psi, key in ((1.0, "img_psi1"), (0.7, "img_psi07")):
        assert _rel(by_class(truncation=psi), R[key]) < 1e-5, key
    G_w = _load(path, latent_space="w", **kw(classes[0]))
    assert _rel(G_w(torch.from_numpy(R["w"])), R["img_w"]) < 1e-5
    wplus = torch.from_numpy(R["wplus"]).reshape(len(R["wplus"]), -1)
    assert _rel(_load(path, latent_space="w+", **kw(classes[0]))(wplus), R["img_wplus"]) < 1e-5
    G64 = _load(path, latent_space="w+", dtype="float64", **kw(classes[0]))
    assert _rel(G64(wplus[:1].double()), R["img_wplus"][:1]) < 1e-5  # one code: float64 depthwise filters are slow
    assert _rel(by_class(network="G"), R["img_G_psi1"]) < 1e-5  # G, not G_ema: its own mapping and synthesis
    ws = torch.from_numpy(R["ws_psi1"]).reshape(len(R["z"]), -1)
    if "img_psi1_noise_none" in R:
        assert _rel(_load(path, latent_space="w+", noise_mode="none", **kw(classes[0]))(ws),
                    R["img_psi1_noise_none"]) < 1e-5
    assert not marker.exists()


@needs_zoo
def test_known_and_unknown_sources_of_the_fixtures():
    """The fixtures made from NVIDIA's released code load silently; the edited (marker) source warns, once."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        G = ganmetric.load_generator(str(ZOO / "nvlabs_sg3t.pkl"))
    assert G.map_options()["source"] == "NVlabs/stylegan3 training/networks_stylegan3.py"
    assert G.map_options()["architecture"] == "stylegan3-t"
    with pytest.warns(UnknownSourceWarning, match=r"nvlabs_sg2_marker.pkl: its network code "
                                                   r"\(sha256 36b01601ce0a8efb\) is not a known NVIDIA release; "
                                                   r"loaded by structure") as rec:
        G = ganmetric.load_generator(str(ZOO / "nvlabs_sg2_marker.pkl"))
    assert len(rec) == 1 and "\n" not in str(rec[0].message)
    assert G.map_options()["source"] == "unknown" and G.map_options()["source_sha256"].startswith("36b01601ce0a8efb")


# ---- files written here in NVIDIA's format ----

def test_loads_what_the_network_computes_in_every_latent_space(cond_file):
    path, G = cond_file
    with pytest.warns(UnknownSourceWarning):
        Gz = load_nvidia_pickle(path, latent_space="z", class_index=2)
    z = Gz.sample(3, seed=4)
    with torch.no_grad():
        torch.testing.assert_close(Gz(z), G(z), rtol=0, atol=0)
        ws = G.ws(z)
        Gw, Gp = _load(path, class_index=2), _load(path, latent_space="w+", class_index=2)
        torch.testing.assert_close(Gw(ws[:, 0]), G.synthesis(ws), rtol=0, atol=0)  # ws rows are equal at psi 1
        torch.testing.assert_close(Gp(ws.reshape(3, -1)), G.synthesis(ws), rtol=0, atol=0)
    assert (Gz.latent_dim, Gw.latent_dim, Gp.latent_dim) == (8, 8, G.num_ws * 8) and Gw.latent_space == "w"
    other = _load(path, latent_space="z", class_index=0)
    assert not torch.allclose(other(z), Gz(z))  # the class changes the image


def test_truncation_and_cutoff_follow_nvidias_mapping(cond_file):
    path, G = cond_file
    Gz = _load(path, latent_space="z", class_index=2, truncation=0.5, truncation_cutoff=2)
    z = Gz.sample(2, seed=1)
    with torch.no_grad():
        free = G.ws(z)
        avg = G.mapping.w_avg
        expected = free.clone()
        expected[:, :2] = avg + 0.5 * (free[:, :2] - avg)
        torch.testing.assert_close(Gz.ws(z), expected, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(Gz(z), G.synthesis(expected), rtol=1e-5, atol=1e-5)
    assert Gz.map_options()["truncation"] == 0.5 and Gz.map_options()["truncation_cutoff"] == 2


def test_samples_in_w_and_w_plus_are_the_mapped_codes_and_do_not_depend_on_n(cond_file):
    path, _ = cond_file
    Gz = _load(path, latent_space="z", class_index=1, truncation=0.7)
    Gw = _load(path, latent_space="w", class_index=1, truncation=0.7)
    Gp = _load(path, latent_space="w+", class_index=1, truncation=0.7, truncation_cutoff=3)
    z, w, wp = Gz.sample(5, seed=9), Gw.sample(5, seed=9), Gp.sample(5, seed=9)
    with torch.no_grad():
        torch.testing.assert_close(w, Gz.ws(z)[:, 0], rtol=1e-5, atol=1e-6)
        Gp.truncation_cutoff = 3
        torch.testing.assert_close(wp.reshape(5, Gp.num_ws, -1)[:, 3], Gz.ws(z, truncation=1.0)[:, 3], rtol=1e-5,
                                   atol=1e-6)
    assert torch.equal(Gw.sample(2, seed=9), w[:2]) and torch.equal(Gp.sample(3, seed=9), wp[:3])


def test_the_record_says_what_made_the_map(cond_file):
    path, _ = cond_file
    G = _load(path, latent_space="w+", class_index=1, network="G", truncation=0.8, noise_mode="none")
    meta = ganmetric.generators.model_meta(G)
    opts = meta["model_options"]
    assert meta["model"] == str(path) and meta["latent_space"] == "w+"
    assert {k: opts[k] for k in ("network", "architecture", "truncation", "truncation_cutoff", "class_index",
                                 "noise_mode", "source", "pickled_code")} == {
        "network": "G", "architecture": "stylegan2", "truncation": 0.8, "truncation_cutoff": None, "class_index": 1,
        "noise_mode": "none", "source": "unknown", "pickled_code": "not run"}
    assert opts["source_sha256"] == pickles.source_sha256(OWN_SOURCE)
    assert opts["weights"] == {"source": "saved-file"} and len(opts["file_sha256"]) == 64
    json.dumps(meta, allow_nan=False)  # strict JSON
    summary = ganmetric.generators.describe_model(G)
    assert "source unknown" in summary and opts["source_sha256"] not in summary


def test_a_known_source_loads_silently(cond_file, monkeypatch):
    path, _ = cond_file
    monkeypatch.setitem(pickles.KNOWN_SOURCES, pickles.source_sha256(OWN_SOURCE), ("stylegan2", "ganmetric tests"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        G = ganmetric.load_generator(str(path), class_index=0)
    assert G.map_options()["source"] == "ganmetric tests"


def test_a_file_holding_only_g_ema(tmp_path, cond_file):
    _, G = cond_file
    import pickle
    from helpers_nvidia import nvidia_globals
    path = tmp_path / "ema.pkl"
    with nvidia_globals(), open(path, "wb") as f:
        pickle.dump({"G_ema": generator_record(G, COND_KWARGS)}, f, protocol=4)
    assert _load(path, class_index=0).latent_dim == 8
    with pytest.raises(InputError, match=r"ema.pkl holds G_ema, not G"):
        _load(path, class_index=0, network="G")


@pytest.mark.parametrize("options, error, match", [
    ({}, InputError, r"is conditional \(3 classes\): give class_index 0-2"),
    ({"class_index": 3}, InputError, r"class_index must be at least 0 and at most 2, got 3"),
    ({"class_index": 0, "network": "D"}, InputError, r"network 'D' is not one of \{G, G_ema\}"),
    ({"class_index": 0, "latent_space": "s"}, InputError, r"latent space of an NVIDIA generator 's' is not one of"),
    ({"class_index": 0, "truncation": 3}, InputError, r"truncation psi must be in \[0, 2\], got 3"),
    ({"class_index": 0, "truncation_cutoff": 2}, InputError, r"truncation_cutoff truncates only the first styles"),
    ({"class_index": 0, "latent_space": "z", "truncation_cutoff": 99}, InputError, r"at most 6, got 99"),
    ({"class_index": 0, "noise_mode": "loud"}, InputError, r"noise_mode 'loud' is not one of"),
    ({"class_index": 0, "weights": "x.pt"}, InputError, r"weights cannot be set for an NVIDIA network pickle"),
])
def test_bad_options_one_line_each(cond_file, options, error, match):
    path, _ = cond_file
    with pytest.raises(error, match=match) as err:
        _load(path, **options)
    assert "\n" not in str(err.value)


def test_unconditional_and_stylegan3_options(sg3_file):
    path, _ = sg3_file
    with pytest.raises(InputError, match="is unconditional: class_index does not apply"):
        _load(path, class_index=0)
    with pytest.raises(InputError, match="StyleGAN3 has no noise inputs"):
        _load(path, noise_mode="none")
    assert _load(path).map_options()["noise_mode"] is None


def test_random_noise_is_refused_by_the_metric(cond_file):
    path, _ = cond_file
    G = _load(path, class_index=0, noise_mode="random")
    with pytest.raises(ganmetric.errors.NotDeterministicError):
        ganmetric.metric_tensor(G, ganmetric.load_distance("mse"), G.sample(1))


@pytest.mark.parametrize("which, space", [("cond", "z"), ("cond", "w+"), ("sg3", "w")])
def test_metric_equals_the_dense_float64_reference(cond_file, sg3_file, which, space):
    """jacobian's H = 2 J^T J through torch.func transforms, against torch.func.hessian of the whole map."""
    path = (cond_file if which == "cond" else sg3_file)[0]
    G = _load(path, latent_space=space, dtype="float64", **({"class_index": 1} if which == "cond" else {}))
    D = ganmetric.load_distance("mse", dtype="float64")
    z0 = G.sample(1, seed=3)
    res = ganmetric.metric_tensor(G, D, z0, method="jacobian")
    H = dense_hessian(G, D, z0[0])
    torch.testing.assert_close(res.H.double().cpu(), H, rtol=1e-7, atol=1e-9 * float(H.abs().max()))


# ---- --trust-pickled-code: NVIDIA's own loader (here a stand-in repository) ----

def _fake_nvidia_repo(root: Path, marker: Path) -> None:
    """A stand-in for NVIDIA's repository: its loader leaves a marker (the file's code "ran") and returns the
    network the file was written from."""
    (root / "torch_utils").mkdir(parents=True)
    (root / "torch_utils" / "__init__.py").write_text("")
    (root / "torch_utils" / "persistence.py").write_text("")
    (root / "legacy.py").write_text(
        "import pathlib\n"
        "from ganmetric.generators.nvidia import random_nvidia_generator\n"
        "from helpers_nvidia import COND_KWARGS, perturbed\n"
        f"def load_network_pkl(f):\n    pathlib.Path({str(marker)!r}).touch()\n"
        "    G = perturbed(random_nvidia_generator('stylegan2', COND_KWARGS, seed=5, class_index=2))\n"
        "    return {'G_ema': G}\n")


def test_trust_pickled_code_runs_nvidias_loader_and_says_so(tmp_path, cond_file, monkeypatch):
    path, G = cond_file
    marker = tmp_path / "ran"
    for name in ("legacy", "torch_utils", "torch_utils.persistence"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.raises(InputError, match=r"trust_pickled_code runs NVIDIA's own loader, which is not importable here"):
        load_nvidia_pickle(path, class_index=2, trust_pickled_code=True)
    _fake_nvidia_repo(tmp_path / "repo", marker)
    monkeypatch.syspath_prepend(str(tmp_path / "repo"))
    with pytest.warns(UserWarning, match="loading with NVIDIA's loader, which runs the code inside the file"):
        trusted = load_nvidia_pickle(path, class_index=2, latent_space="z", trust_pickled_code=True)
    assert marker.exists() and trusted.map_options()["pickled_code"] == "ran (trust_pickled_code)"
    z = trusted.sample(2, seed=0)
    with torch.no_grad():
        torch.testing.assert_close(trusted(z), G(z), rtol=0, atol=0)
    for name in ("legacy", "torch_utils", "torch_utils.persistence"):
        sys.modules.pop(name, None)


# ---- the command line ----

def test_cli_hessian_on_a_pickle_and_its_one_line_errors(cond_file, tmp_path):
    from click.testing import CliRunner
    from ganmetric_cli.main import main
    from helpers import one_error_line
    path, _ = cond_file
    runner = CliRunner()
    out = tmp_path / "h.npz"
    res = runner.invoke(main, ["hessian", "--model", str(path), "--class-index", "1", "--distance", "mse",
                               "--latent-space", "z", "--truncation", "0.7", "--out", str(out)])
    assert res.exit_code == 0, res.output
    meta = json.loads(str(np.load(out)["meta"]))
    assert meta["model_options"]["class_index"] == 1 and meta["model_options"]["truncation"] == 0.7
    for args, match in ((["--distance", "mse"], "is conditional (3 classes): give --class-index 0-2"),
                        (["--class-index", "5"], "Invalid value for '--class-index': must be at least 0 and at most 2"),
                        (["--class-index", "0", "--network", "D"], "'D' is not one of 'G_ema', 'G'")):
        bad = tmp_path / "bad.npz"
        res = runner.invoke(main, ["hessian", "--model", str(path), *args, "--out", str(bad)])
        one_error_line(res, match)
        assert not bad.exists()


def test_cli_models_layers_lists_a_pickles_layers_under_nvidias_names(cond_file, sg3_file):
    from click.testing import CliRunner
    from ganmetric_cli.main import main
    runner = CliRunner()
    res = runner.invoke(main, ["models", "layers", str(cond_file[0]), "--class-index", "1"])
    assert res.exit_code == 0, res.output
    assert "synthesis.b16.conv1" in res.output and "synthesis.b4.conv1" in res.output
    res = runner.invoke(main, ["models", "layers", str(sg3_file[0])])
    assert res.exit_code == 0, res.output
    assert "synthesis.L0_" in res.output and "synthesis.input" in res.output


def test_cli_refuses_a_malicious_pickle_without_running_it(tmp_path):
    import os
    import pickle
    from click.testing import CliRunner
    from ganmetric_cli.main import main
    from helpers import one_error_line

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {tmp_path / 'pwned'}",)

    plain, snapshot = tmp_path / "evil.pkl", tmp_path / "ffhq.pkl"
    plain.write_bytes(pickle.dumps({"G_ema": Evil()}, protocol=4))  # no dnnlib: the format sniffer refuses it
    write_snapshot(snapshot, Evil())  # an NVIDIA snapshot's stream: the restricted unpickler refuses the global
    for path, match in ((plain, "evil.pkl is a pickle file, not a generator"),
                        (snapshot, f"needs the global {os.system.__module__}.system, which an NVIDIA network pickle "
                                   "does not use; refused without running anything")):
        res = CliRunner().invoke(main, ["hessian", "--model", str(path), "--out", str(tmp_path / "o.npz")])
        one_error_line(res, match)
        assert not (tmp_path / "pwned").exists() and not (tmp_path / "o.npz").exists()


def test_an_embedded_source_does_not_run_through_the_api(tmp_path):
    marker = tmp_path / "marker"
    G = random_nvidia_generator("stylegan2", SG2_KWARGS, seed=2)
    path = tmp_path / "m.pkl"
    write_snapshot(path, generator_record(G, SG2_KWARGS, src=marker_source(marker)))
    with pytest.warns(UnknownSourceWarning):
        ganmetric.load_generator(str(path), latent_space="z")
    assert not marker.exists()


def test_not_a_network_file_through_load_generator(tmp_path):
    path = tmp_path / "x.pkl"
    torch.save({"a": torch.zeros(1)}, path)
    with pytest.raises(InputError, match=r"x.pkl is a PyTorch file \(torch.save\).*not a generator"):
        ganmetric.load_generator(str(path))  # the format sniffer's line: a .pkl suffix routes nothing by itself
