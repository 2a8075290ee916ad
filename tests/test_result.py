"""The one result type: save/load round trip, plain numpy readability, reserved keys, provenance, validation."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import ganmetric
from ganmetric.errors import InputError, ResultFileError
from ganmetric.result import MetricResult, load_result, save_result
from helpers import LinearGenerator, TinyConvGenerator


@pytest.fixture(scope="module")
def result():
    G = LinearGenerator(torch.randn(16, 5, generator=torch.Generator().manual_seed(0)))
    return ganmetric.metric_tensor(G, ganmetric.load_distance("mse"), torch.ones(5), method="jacobian")


def test_round_trip_and_plain_numpy(tmp_path, result):
    path = save_result(tmp_path / "r.npz", result, seed=3)
    with np.load(path, allow_pickle=False) as data:
        assert set(data.files) == {"eigvals", "eigvecs", "z", "H", "meta"}
        meta = json.loads(str(data["meta"]))
    assert meta["model"] == "linear" and meta["method"] == "jacobian" and meta["seed"] == 3
    assert "torch" in meta["versions"] and meta["k"] == 5 and meta["latent_dim"] == 5
    loaded = load_result(path)
    # bitwise on purpose: a file round trip stores and returns the same bytes, nothing is computed
    np.testing.assert_array_equal(loaded.H, result.H.numpy())
    np.testing.assert_array_equal(loaded.eigvecs, result.eigvecs.numpy())
    np.testing.assert_allclose(loaded.metric(), result.H.numpy())


def test_top_k_result_reconstructs_metric(tmp_path):
    vals = np.array([3.0, 1.0])
    vecs = np.eye(4)[:, :2]

    loaded = load_result(save_result(tmp_path / "t.npz", MetricResult(vals, vecs, np.zeros(4), residuals=np.zeros(2))))
    np.testing.assert_allclose(loaded.metric(), np.diag([3.0, 1.0, 0, 0]))
    assert not loaded.full


@pytest.mark.parametrize("content, match", [
    (None, "not found"), (b"garbage", "not a readable"), ("nometa", "missing meta"), ("badshape", "inconsistent"),
    ("nan z", "non-finite values in its point z"), ("inf H", "non-finite values in its metric H")])
def test_bad_files(tmp_path, content, match):
    path = tmp_path / "bad.npz"
    if content in ("nan z", "inf H"):
        z, H = np.ones(2), np.eye(2)
        if content == "nan z":
            z[1] = np.nan
        else:
            H[0, 1] = np.inf
        np.savez(path, eigvals=np.ones(2), eigvecs=np.eye(2), z=z, H=H,
                 meta=np.array(json.dumps({"format": "ganmetric-result/1"})))
    elif content == "nometa":
        np.savez(path, eigvals=np.ones(2), eigvecs=np.eye(2), z=np.ones(2))
    elif content == "badshape":
        np.savez(path, eigvals=np.ones(3), eigvecs=np.eye(2), z=np.ones(2),
                 meta=np.array(json.dumps({"format": "ganmetric-result/1"})))
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ResultFileError, match=match):
        load_result(path)


def test_meta_records_what_the_solver_read(tmp_path):
    """The Lanczos seed is ``lanczos_seed``; ``seed`` stays the seed the point was drawn with (it used to
    be the Lanczos seed unless the caller overwrote it), and options a method ignores are null."""
    G = LinearGenerator(torch.randn(16, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    D = ganmetric.load_distance("mse", dtype="float64")
    top = ganmetric.metric_tensor(G, D, torch.ones(5, dtype=torch.float64), method="gn-lanczos", k=2, seed=7)
    meta = load_result(save_result(tmp_path / "top.npz", top)).meta
    assert meta["lanczos_seed"] == 7 and "seed" not in meta and meta["eps"] is None and meta["chunk"] == 5
    meta = load_result(save_result(tmp_path / "top.npz", top, seed=3)).meta
    assert meta["seed"] == 3 and meta["lanczos_seed"] == 7
    full = ganmetric.metric_tensor(G, D, torch.ones(5, dtype=torch.float64), method="jacobian", seed=7)
    meta = load_result(save_result(tmp_path / "full.npz", full)).meta
    assert (meta["lanczos_seed"], meta["max_iter"], meta["tol"], meta["eps"]) == (None, None, None, None)


@pytest.mark.parametrize("key", ["format", "kind", "model", "distance", "distance_options", "latent_space",
                                 "model_options", "versions", "k"])
def test_reserved_keys_cannot_be_overwritten(tmp_path, result, key):
    with pytest.raises(InputError, match=f"{key} cannot be given when saving a result"):
        save_result(tmp_path / "r.npz", result, **{key: "x"})
    assert not (tmp_path / "r.npz").exists()


def test_the_distance_is_recorded_from_the_object_not_a_typed_name(tmp_path):
    """The README's old example, save_result(..., distance=D.name), stored "lpips-alex" for a random backbone."""
    G = TinyConvGenerator(n=3, res=32).double()
    D = ganmetric.load_distance("lpips-alex", lpips_backbone="random:4", dtype="float64")
    res = ganmetric.metric_tensor(G, D, G.sample(1, seed=0), method="jacobian")
    meta = load_result(res.save(tmp_path / "r.npz").path).meta
    assert meta["distance"] == "lpips-alex" and meta["distance_options"]["backbone"] == "random:4"
    assert meta["model"] == "tiny-conv" and meta["latent_dim"] == 3 and meta["model_options"]["weights"] == "unknown"


def test_the_file_is_strict_json_even_with_undefined_values(tmp_path, result):
    """A NaN anywhere in meta is written as null: the file's meta is valid strict JSON."""
    path = save_result(tmp_path / "r.npz", result, note=float("nan"))
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]), parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert meta["note"] is None


def test_summary_of_a_loaded_file_equals_the_computed_one(tmp_path, result):
    loaded = load_result(save_result(tmp_path / "r.npz", result))
    a, b = result.summary(), loaded.summary()
    assert a["n99"] == b["n99"] and a["k"] == b["k"]
    np.testing.assert_allclose(a["top_eigvals"], b["top_eigvals"], rtol=1e-12)
    assert a["trace"] == pytest.approx(b["trace"], rel=1e-12)


def test_an_axis_file_given_as_a_result_is_named(tmp_path, result):
    path = save_result(tmp_path / "r.npz", result)
    axes = ganmetric.export_axes(path, top=2, out=tmp_path / "axes.npz")
    with pytest.raises(ResultFileError, match="looks like an axis file"):
        load_result(axes.path)
