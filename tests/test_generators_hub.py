"""hf://OWNER/REPO/PATH[@REVISION]: resolved offline from a Hub-layout cache the test builds, loaded by format, recorded."""
from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

import ganmetric
from ganmetric.errors import InputError
from ganmetric.generators import hub
from ganmetric.io import sha256_file
from ganmetric_cli.main import main
from helpers import one_error_line
from helpers_zoo import deepsim_reference, deepsim_state, rel_err

pytest.importorskip("huggingface_hub")

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OLDER = "fedcba9876543210fedcba9876543210fedcba98"


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """``models--owner--gans`` with ``sub/G.pt`` (a DeePSim fc6 state dict) at main and an older commit tagged v1."""
    root = tmp_path / "hf" / "hub"
    repo = root / "models--owner--gans"
    states = {COMMIT: deepsim_state("fc6", seed=1), OLDER: deepsim_state("fc6", seed=2)}
    for commit, state in states.items():
        (repo / "snapshots" / commit / "sub").mkdir(parents=True)
        torch.save(state, repo / "snapshots" / commit / "sub" / "G.pt")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    (repo / "refs" / "v1").write_text(OLDER)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return repo, states


def test_a_model_from_the_cache_is_loaded_by_format_and_recorded(hub_cache):
    repo, states = hub_cache
    G = ganmetric.load_generator("hf://owner/gans/sub/G.pt", dtype="float64")
    assert G.name == "hf://owner/gans/sub/G.pt" and G.variant == "fc6"
    local = repo / "snapshots" / COMMIT / "sub" / "G.pt"
    assert G.weights == {"source": "hf", "repo": "owner/gans", "revision": COMMIT, "path": "sub/G.pt",
                         "sha256": sha256_file(local)}
    assert G.file_sha256 == sha256_file(local)
    z = G.sample(1)
    assert rel_err(G(z), deepsim_reference(states[COMMIT], z)) < 1e-12
    old = ganmetric.load_generator("hf://owner/gans/sub/G.pt@v1", dtype="float64")
    assert old.weights["revision"] == OLDER and rel_err(old(z), deepsim_reference(states[OLDER], z)) < 1e-12
    assert ganmetric.load_generator(f"hf://owner/gans/sub/G.pt@{OLDER}").weights["revision"] == OLDER
    assert "Hugging Face owner/gans/sub/G.pt at 0123456789ab" in ganmetric.generators.describe_model(G)


def test_weights_from_the_hub_for_a_family(hub_cache):
    G = ganmetric.load_generator("deepsim-fc7", weights="hf://owner/gans/sub/G.pt@v1")
    assert G.variant == "fc7" and G.name == "deepsim-fc7"
    assert G.weights["source"] == "hf" and G.weights["revision"] == OLDER and G.weights["path"] == "sub/G.pt"


@pytest.mark.parametrize("spec", ["hf://owner", "hf://owner/gans", "hf://owner/gans/", "hf://own--er/gans/G.pt",
                                  "hf://owner/gans/G.pt@", "hf://owner/gans/../G.pt", "hf://-owner/gans/G.pt"])
def test_malformed_references_one_line(spec):
    with pytest.raises(InputError, match=r"is not a Hugging Face file reference: expected "
                                         r"hf://OWNER/REPO/PATH\[@REVISION\]") as info:
        ganmetric.load_generator(spec)
    assert "\n" not in str(info.value)


def test_absent_offline_names_the_repository_and_file(hub_cache):
    with pytest.raises(InputError, match=r"hf://owner/gans/sub/H.pt: file sub/H.pt of the Hugging Face repository "
                                         r"owner/gans is not in the cache .* and HF_HUB_OFFLINE is set"):
        ganmetric.load_generator("hf://owner/gans/sub/H.pt")
    with pytest.raises(InputError, match="repository owner/gans at revision v2 is not in the cache"):
        ganmetric.load_generator("deepsim", weights="hf://owner/gans/sub/G.pt@v2")


def test_parse():
    assert hub.parse("hf://o/r/a/b.pth@refs/pr/1") == hub.HubFile("o/r", "a/b.pth", "refs/pr/1")
    assert hub.parse("hf://o/r/G.pt") == hub.HubFile("o/r", "G.pt", None)


def test_cli_records_the_hub_file_and_writes_nothing_when_absent(hub_cache, tmp_path):
    out = tmp_path / "h.npz"
    args = ["hessian", "--distance", "mse", "--method", "gn-lanczos", "--k", "2", "--out", str(out), "-q"]
    r = CliRunner().invoke(main, [args[0], "--model", "hf://owner/gans/sub/G.pt", *args[1:]])
    assert r.exit_code == 0, r.output
    meta = ganmetric.load_result(out).meta
    assert meta["model"] == "hf://owner/gans/sub/G.pt" and meta["model_options"]["weights"]["revision"] == COMMIT
    absent = tmp_path / "absent.npz"
    r = CliRunner().invoke(main, ["hessian", "--model", "hf://owner/gans/sub/H.pt", "--distance", "mse",
                                  "--out", str(absent)])
    one_error_line(r, "file sub/H.pt of the Hugging Face repository owner/gans is not in the cache")
    r = CliRunner().invoke(main, ["hessian", "--model", "deepsim", "--weights", "hf://owner", "--distance", "mse",
                                  "--out", str(absent)])
    one_error_line(r, "hf://owner is not a Hugging Face file reference")
    assert not absent.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["h.npz", "hf"]


def test_a_result_of_a_hub_model_is_reused_with_the_model_named_again(hub_cache, tmp_path):
    from ganmetric.generators import ModelSpec, load_recorded_generator
    G = ganmetric.load_generator("hf://owner/gans/sub/G.pt", clamp=False)
    meta = ganmetric.generators.model_meta(G)
    again = load_recorded_generator(meta, ModelSpec("hf://owner/gans/sub/G.pt"))
    assert again.weights == G.weights and again.clamp is False
    with pytest.raises(InputError, match="was made with another model setting"):
        load_recorded_generator(meta, ModelSpec("hf://owner/gans/sub/G.pt@v1"))


def test_hub_weights_of_a_named_model_must_be_named_again(hub_cache, tmp_path, monkeypatch):
    from ganmetric.generators import ModelSpec, load_recorded_generator
    G = ganmetric.load_generator("deepsim-fc6", weights="hf://owner/gans/sub/G.pt@v1")
    meta = ganmetric.generators.model_meta(G)
    with pytest.raises(InputError, match=rf"records weights from the Hugging Face file hf://owner/gans/sub/G.pt@{OLDER}"
                                         rf" \(sha256 \w+\); .* give weights hf://owner/gans/sub/G.pt@{OLDER}"):
        load_recorded_generator(meta)
    again = load_recorded_generator(meta, ModelSpec(None, None, {"weights": f"hf://owner/gans/sub/G.pt@{OLDER}"}))
    assert again.weights == G.weights
