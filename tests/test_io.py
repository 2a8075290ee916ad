"""Result files: round trip, plain numpy readability, validation, atomic writes."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import ganmetric
from ganmetric.errors import InputError, ResultFileError
from ganmetric.io import atomic_write_bytes, load_result, save_result
from helpers import LinearGenerator


@pytest.fixture(scope="module")
def result():
    G = LinearGenerator(torch.randn(16, 5, generator=torch.Generator().manual_seed(0)))
    return ganmetric.metric_tensor(G, ganmetric.load_distance("mse"), torch.ones(5), method="jacobian")


def test_round_trip_and_plain_numpy(tmp_path, result):
    path = save_result(tmp_path / "r.npz", result, model="linear", distance="mse", seed=3)
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

    class R:  # minimal result-like object
        eigvals, eigvecs, z, H, residuals = vals, vecs, np.zeros(4), None, np.zeros(2)

    loaded = load_result(save_result(tmp_path / "t.npz", R(), model="m"))
    np.testing.assert_allclose(loaded.metric(), np.diag([3.0, 1.0, 0, 0]))
    assert not loaded.full


@pytest.mark.parametrize("content, match", [
    (None, "not found"), (b"garbage", "not a readable"), ("nometa", "missing meta"), ("badshape", "inconsistent")])
def test_bad_files(tmp_path, content, match):
    path = tmp_path / "bad.npz"
    if content == "nometa":
        np.savez(path, eigvals=np.ones(2), eigvecs=np.eye(2), z=np.ones(2))
    elif content == "badshape":
        np.savez(path, eigvals=np.ones(3), eigvecs=np.eye(2), z=np.ones(2),
                 meta=np.array(json.dumps({"format": "ganmetric-result/1"})))
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ResultFileError, match=match):
        load_result(path)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    class Boom(bytes):
        pass

    with pytest.raises(InputError, match="does not exist"):
        atomic_write_bytes(tmp_path / "missing" / "x.npz", b"1")
    target = tmp_path / "x.bin"
    atomic_write_bytes(target, b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, 12345)  # write fails mid-way
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]


def test_written_files_follow_the_umask(tmp_path):
    import os
    import stat
    old = os.umask(0o022)
    try:
        path = atomic_write_bytes(tmp_path / "f.bin", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_meta_records_what_the_solver_read(tmp_path):
    """The Lanczos seed is ``lanczos_seed``; ``seed`` stays the seed the point was drawn with (it used to
    be the Lanczos seed unless the caller overwrote it), and options a method ignores are null."""
    G = LinearGenerator(torch.randn(16, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    D = ganmetric.load_distance("mse", dtype="float64")
    top = ganmetric.metric_tensor(G, D, torch.ones(5, dtype=torch.float64), method="gn-lanczos", k=2, seed=7)
    meta = load_result(save_result(tmp_path / "top.npz", top, model="linear")).meta
    assert meta["lanczos_seed"] == 7 and "seed" not in meta and meta["eps"] is None and meta["chunk"] == 5
    meta = load_result(save_result(tmp_path / "top.npz", top, model="linear", seed=3)).meta
    assert meta["seed"] == 3 and meta["lanczos_seed"] == 7
    full = ganmetric.metric_tensor(G, D, torch.ones(5, dtype=torch.float64), method="jacobian", seed=7)
    meta = load_result(save_result(tmp_path / "full.npz", full, model="linear")).meta
    assert (meta["lanczos_seed"], meta["max_iter"], meta["tol"], meta["eps"]) == (None, None, None, None)
