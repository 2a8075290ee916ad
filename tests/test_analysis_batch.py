import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch

import ganmetric
from ganmetric.analysis import batch_codes, batch_metric, load_results, point_name
from helpers import TinyConvGenerator
from helpers_analysis import fake_result


@pytest.fixture(scope="module")
def tiny():
    return TinyConvGenerator(n=6, res=8).double()


@pytest.fixture(scope="module")
def mse():
    return ganmetric.load_distance("mse", dtype="float64")


def _arrays(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files if k != "meta"}


def _same_points(a, b, n):
    for i in range(n):
        x, y = _arrays(a / point_name(i)), _arrays(b / point_name(i))
        assert x.keys() == y.keys()
        for key in x:
            assert np.array_equal(x[key], y[key]), (i, key)  # bitwise on purpose: a resumed batch writes the same file


def test_batch_writes_points_and_manifest(tmp_path, tiny, mse):
    codes = tiny.sample(4, seed=1)
    s = batch_metric(tiny, mse, codes, tmp_path / "b", method="jacobian", seed=1)
    assert (s.n_points, s.computed, s.skipped, s.recomputed, s.world_size) == (4, 4, 0, 0, 1)
    man = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert man["model"] == "tiny-conv" and man["distance"] == "mse" and man["method"] == "jacobian"
    assert man["latent_space"] == "z" and man["dtype"] == "float64" and man["seed"] == 1 and man["k"] is None
    assert man["n_done"] == 4 and [p["status"] for p in man["points"]] == ["done"] * 4
    assert man["points"][2] == {"index": 2, "file": "point_00002.npz", "status": "done"}
    np.testing.assert_array_equal(np.load(tmp_path / "b" / "codes.npy"), codes.numpy())
    r = ganmetric.load_result(tmp_path / "b" / point_name(2))
    assert r.meta["kind"] == "point" and r.meta["index"] == 2 and r.meta["method"] == "jacobian"
    np.testing.assert_array_equal(r.z, codes[2].numpy())
    one = ganmetric.metric_tensor(tiny, mse, codes[2], method="jacobian")
    np.testing.assert_allclose(r.H, one.H.numpy(), rtol=1e-12, atol=0)  # a point depends only on its code (two calls)
    assert not list((tmp_path / "b").glob(".*.tmp"))


def test_resume_keeps_valid_and_recomputes_missing_and_corrupt(tmp_path, tiny, mse):
    codes = tiny.sample(5, seed=2)
    batch_metric(tiny, mse, codes, tmp_path / "ref", method="jacobian")
    shutil.copytree(tmp_path / "ref", tmp_path / "b")
    d = tmp_path / "b"
    (d / point_name(0)).unlink()
    data = (d / point_name(1)).read_bytes()
    (d / point_name(1)).write_bytes(data[: len(data) // 2])                 # half-written by something else
    (d / point_name(3)).write_bytes(b"garbage")
    (d / f".{point_name(4)}.abc.tmp").write_bytes(b"left by a killed run")
    s = batch_metric(tiny, mse, codes, d, method="jacobian")
    assert (s.computed, s.recomputed, s.skipped) == (3, 2, 2)
    _same_points(tmp_path / "ref", d, 5)
    assert not list(d.glob(".*.tmp"))
    s = batch_metric(tiny, mse, codes, d, method="jacobian")
    assert (s.computed, s.skipped) == (0, 5)


def test_stop_between_points(tmp_path, tiny, mse):
    calls = []
    s = batch_metric(tiny, mse, tiny.sample(5), tmp_path, method="jacobian",
                     stop=lambda: calls.append(1) or len(calls) > 2)
    assert s.interrupted and s.computed == 2
    man = json.loads((tmp_path / "manifest.json").read_text())
    assert [(p["index"], p["status"]) for p in man["points"]] == [(0, "done"), (1, "done")]  # pending: not listed
    assert (man["n_points"], man["n_done"], man["n_failed"], man["interrupted"]) == (5, 2, 0, True)
    s = batch_metric(tiny, mse, tiny.sample(5), tmp_path, method="jacobian")
    assert not s.interrupted and (s.computed, s.skipped) == (3, 2)


def test_stale_point_is_recomputed(tmp_path, tiny, mse):
    """A valid file of this batch whose code differs from codes[i] (e.g. copied by hand) is not trusted."""
    codes = tiny.sample(3, seed=2)
    batch_metric(tiny, mse, codes, tmp_path, method="jacobian")
    shutil.copy(tmp_path / point_name(0), tmp_path / point_name(1))
    s = batch_metric(tiny, mse, codes, tmp_path, method="jacobian")
    assert (s.computed, s.recomputed) == (1, 1)


def test_refuses_to_mix_batches(tmp_path, tiny, mse):
    codes = tiny.sample(3, seed=0)
    batch_metric(tiny, mse, codes, tmp_path, method="jacobian")
    with pytest.raises(ganmetric.InputError, match='different batch.*method: directory has "jacobian", this run "bp"'):
        batch_metric(tiny, mse, codes, tmp_path, method="bp")
    with pytest.raises(ganmetric.InputError, match="different batch.*model"):
        batch_metric(_renamed(), mse, codes, tmp_path, method="jacobian")
    with pytest.raises(ganmetric.InputError, match="different batch.*dtype"):
        batch_metric(TinyConvGenerator(n=6, res=8), ganmetric.load_distance("mse"), codes, tmp_path,
                     method="jacobian")
    with pytest.raises(ganmetric.InputError, match="other latent codes"):
        batch_metric(tiny, mse, tiny.sample(3, seed=1), tmp_path, method="jacobian")
    # a point file of another batch is refused even without a manifest
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(ganmetric.InputError, match="point_00000.npz belongs to a different batch.*method"):
        batch_metric(tiny, mse, codes, tmp_path, method="bp")


def _renamed():
    other = TinyConvGenerator(n=6, res=8).double()
    other.name = "another-model"
    return other


def test_foreign_result_file_is_refused(tmp_path, tiny, mse):
    fake_result(tmp_path / point_name(0), [1.0] * 6)                         # e.g. a `ganmetric hessian` output
    with pytest.raises(ganmetric.InputError, match="belongs to a different batch"):
        batch_metric(tiny, mse, tiny.sample(2), tmp_path, method="jacobian")


def test_growing_by_appending_codes(tmp_path, tiny, mse):
    codes = tiny.sample(4, seed=0)
    batch_metric(tiny, mse, codes[:2], tmp_path, method="jacobian")
    s = batch_metric(tiny, mse, codes, tmp_path, method="jacobian")
    assert (s.computed, s.skipped) == (2, 2)


def test_topk_method(tmp_path, tiny, mse):
    s = batch_metric(tiny, mse, tiny.sample(2), tmp_path, method="gn-lanczos", k=3)
    rs = load_results(tmp_path)
    assert rs.k == 3 and not rs.full and s.computed == 2
    assert json.loads((tmp_path / "manifest.json").read_text())["k"] == 3


@pytest.mark.parametrize("bad,match", [
    (dict(codes=torch.zeros(2, 5)), "shape"),
    (dict(codes=torch.full((2, 6), float("nan"))), "NaN"),
    (dict(method="nope"), "method 'nope' is not one of"),
    (dict(k=99), "k must be"),
])
def test_bad_inputs(tmp_path, tiny, mse, bad, match):
    args = dict(codes=tiny.sample(2), method="jacobian", k=None) | bad
    with pytest.raises(ganmetric.InputError, match=match):
        batch_metric(tiny, mse, args["codes"], tmp_path / "b", method=args["method"], k=args["k"])
    assert not (tmp_path / "b").exists()


def test_out_is_a_file(tmp_path, tiny, mse):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ganmetric.InputError, match="is a file"):
        batch_metric(tiny, mse, tiny.sample(1), tmp_path / "f")


def test_corrupt_manifest_is_refused(tmp_path, tiny, mse):
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ganmetric.InputError, match="not a readable batch manifest"):
        batch_metric(tiny, mse, tiny.sample(1), tmp_path)


class RowSampled(TinyConvGenerator):
    """A generator whose ``sample`` is row-independent (row i of sample(N, seed) does not depend on N)."""

    def sample(self, n=1, seed=0):
        rows = [torch.randn(self.latent_dim, generator=torch.Generator().manual_seed(seed * 100_003 + i),
                            dtype=torch.float64) for i in range(n)]
        return torch.stack(rows).to(self.dtype)


class SizeDependent(TinyConvGenerator):
    """The sampling of older ganmetric versions, in spirit: every row depends on N."""

    def sample(self, n=1, seed=0):
        g = torch.Generator().manual_seed(seed + 1000 * n)
        return torch.randn(n, self.latent_dim, generator=g, dtype=torch.float64).to(self.dtype)


def _copy_weights(src, dst):
    dst.load_state_dict(src.state_dict())
    return dst


def test_batch_codes_extend_a_seeded_folder(tmp_path, mse):
    G = RowSampled(n=6, res=8).double()
    d = tmp_path / "b"
    first = batch_codes(G, 2, 5, d)                                    # nothing recorded yet: G.sample(2, 5)
    np.testing.assert_array_equal(first, G.sample(2, seed=5).numpy())
    batch_metric(G, mse, first, d, method="jacobian", seed=5)
    more = batch_codes(G, 4, 5, d)
    np.testing.assert_array_equal(more[:2], np.load(d / "codes.npy"))   # copies of the same draws
    s = batch_metric(G, mse, more, d, method="jacobian", seed=5)
    assert (s.computed, s.skipped, s.n_points) == (2, 2, 4)
    assert json.loads((d / "manifest.json").read_text())["seed"] == 5


def test_old_folder_resumes_from_its_record_but_cannot_grow(tmp_path, mse):
    """A folder whose seeded codes were drawn by an N-dependent sampler: its codes.npy is the record."""
    old = SizeDependent(n=6, res=8).double()
    d = tmp_path / "b"
    batch_metric(old, mse, old.sample(3, seed=5), d, method="jacobian", seed=5)
    G = _copy_weights(old, RowSampled(n=6, res=8).double())            # the same model, today's sampling
    codes = batch_codes(G, 3, 5, d)
    np.testing.assert_array_equal(codes, np.load(d / "codes.npy"))
    s = batch_metric(G, mse, codes, d, method="jacobian", seed=5)
    assert (s.computed, s.skipped) == (0, 3)
    with pytest.raises(ganmetric.InputError) as err:
        batch_codes(G, 5, 5, d)
    msg = str(err.value)
    assert "holds 3 codes drawn with seed 5 that are not the first 3 of the 5 drawn now" in msg
    assert "resume it with n_points 3" in msg and "choose another folder for out_dir" in msg
    assert err.value.worded({"n_points": "--points", "out_dir": "--out"}).endswith(
        "resume it with --points 3, or to grow the batch choose another folder for --out")
    # another seed has no record here: its codes are drawn, and the folder refuses them, naming both seeds
    with pytest.raises(ganmetric.InputError, match="drawn with seed 5, this run's with seed 6"):
        batch_metric(G, mse, batch_codes(G, 3, 6, d), d, method="jacobian", seed=6)


def test_fewer_points_than_the_folder_holds(tmp_path, tiny, mse):
    codes = tiny.sample(4, seed=0)
    batch_metric(tiny, mse, codes, tmp_path, method="jacobian")
    with pytest.raises(ganmetric.InputError, match="holds 4 points and this run has 2: a batch may only grow"):
        batch_metric(tiny, mse, codes[:2], tmp_path, method="jacobian")


def test_messages_name_the_argument_not_a_flag(tmp_path, tiny, mse):
    codes = tiny.sample(3, seed=0)
    batch_metric(tiny, mse, codes, tmp_path / "b", method="jacobian")
    (tmp_path / "f").write_text("x")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "manifest.json").write_text("{not json")
    cases = [lambda: batch_metric(tiny, mse, codes, tmp_path / "b", method="bp"),
             lambda: batch_metric(tiny, mse, tiny.sample(3, seed=1), tmp_path / "b", method="jacobian"),
             lambda: batch_metric(tiny, mse, codes, tmp_path / "f"),
             lambda: batch_metric(tiny, mse, codes, tmp_path / "m")]
    for case in cases:
        with pytest.raises(ganmetric.InputError) as err:
            case()
        assert "--" not in str(err.value) and err.value.argument == "out_dir", str(err.value)


def test_manifest_is_strict_json(tmp_path, tiny, mse):
    """The manifest parses as strict JSON (no NaN tokens); a NaN solver option is refused before anything is
    written (it used to be recorded as NaN), and the batch resumes from its manifest."""
    with pytest.raises(ganmetric.InputError, match="eps must be a finite number, got nan"):
        batch_metric(tiny, mse, tiny.sample(1), tmp_path / "b", method="jacobian", eps=float("nan"))
    assert not (tmp_path / "b").exists()
    batch_metric(tiny, mse, tiny.sample(1), tmp_path / "b", method="jacobian")

    def refuse(token):
        raise AssertionError(f"non-strict JSON token {token}")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text(), parse_constant=refuse)
    assert manifest["solver"]["eps"] == 1e-3
    s = batch_metric(tiny, mse, tiny.sample(1), tmp_path / "b", method="jacobian")
    assert s.skipped == 1


def test_a_folder_of_another_class_is_refused(tmp_path, mse):
    """The user's report: `batch --class-name blue` resumed a hazel folder ("computed 1, kept 1")."""
    from ganmetric.generators.dcgan import ConditionalDCGANGenerator

    def cdcgan(name):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return ConditionalDCGANGenerator(name="tiny-eyes", nz=4, n_classes=2, class_names=("blue", "hazel"),
                                             class_name=name, ngf=2, nc=1, resolution=8).double()

    hazel, blue = cdcgan("hazel"), cdcgan("blue")
    batch_metric(hazel, mse, hazel.sample(1, seed=0), tmp_path / "b", method="jacobian")
    with pytest.raises(ganmetric.InputError, match=r"holds a different batch \(model_options.class_name: directory has "
                                         r"\"hazel\", this run \"blue\"\)"):
        batch_metric(blue, mse, blue.sample(2, seed=0), tmp_path / "b", method="jacobian")


def test_a_folder_of_another_random_backbone_is_refused(tmp_path):
    from helpers import TinyConvGenerator
    G = TinyConvGenerator(n=3, res=32).double()
    d0 = ganmetric.load_distance("lpips-alex", lpips_backbone="random:0", dtype="float64")
    d1 = ganmetric.load_distance("lpips-alex", lpips_backbone="random:1", dtype="float64")
    batch_metric(G, d0, G.sample(1, seed=0), tmp_path / "b", method="jacobian")
    with pytest.raises(ganmetric.InputError, match=r"distance_options.backbone: directory has \"random:0\", this run "
                                         r"\"random:1\""):
        batch_metric(G, d1, G.sample(1, seed=0), tmp_path / "b", method="jacobian")


def test_an_old_folder_without_model_options_still_resumes(tmp_path, mse):
    import json
    G = TinyConvGenerator(n=3, res=8).double()
    batch_metric(G, mse, G.sample(2, seed=0), tmp_path / "b", method="jacobian")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    del manifest["identity"]["model_options"]  # as written before model options were recorded
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    s = batch_metric(G, mse, G.sample(3, seed=0), tmp_path / "b", method="jacobian")
    assert (s.computed, s.skipped) == (1, 2)


@pytest.mark.parametrize("what", ["image", "derivative"])
def test_points_that_are_not_finite_fail_are_left_out_and_are_retried(tmp_path, mse, what):
    from ganmetric.analysis.batch import NOT_FINITE_IMAGE, NOT_FINITE_METRIC
    from helpers_analysis import NanAtGenerator
    G = NanAtGenerator(what=what).double()
    codes = G.sample(8, seed=1)                                     # points 0 and 5 are above the cut
    out = tmp_path / "b"
    s = batch_metric(G, mse, codes, out, method="jacobian")
    why = NOT_FINITE_IMAGE if what == "image" else NOT_FINITE_METRIC
    assert s.failures == {0: why, 5: why} and (s.computed, s.failed) == (6, 2) and not s.interrupted
    assert not (out / point_name(0)).exists() and not (out / point_name(5)).exists()
    man = json.loads((out / "manifest.json").read_text())
    assert (man["n_points"], man["n_done"], man["n_failed"]) == (8, 6, 2)
    assert man["points"][0] == {"index": 0, "status": "failed", "reason": why}
    rs = load_results(out)
    assert len(rs) == 6 and rs.skipped == {"failed": 2} and "left out: 2 failed point(s)" in rs.describe()
    avg = ganmetric.average_metric(rs)                               # the mean of the six finite metrics only
    H = [ganmetric.metric_tensor(G, mse, codes[i], method="jacobian").H.numpy() for i in (1, 2, 3, 4, 6, 7)]
    np.testing.assert_allclose(np.asarray(avg.H), np.mean(H, axis=0), rtol=1e-10, atol=1e-12)
    G.cut = float("inf")                                             # mended: the failed points are retried
    s = batch_metric(G, mse, codes, out, method="jacobian")
    assert (s.computed, s.skipped, s.failed) == (2, 6, 0)
    assert json.loads((out / "manifest.json").read_text())["n_failed"] == 0
    assert len(load_results(out)) == 8 and load_results(out).skipped == {}


def test_a_point_file_holding_nan_is_refused_by_the_analyses_and_recomputed(tmp_path, tiny, mse):
    codes = tiny.sample(3, seed=0)
    batch_metric(tiny, mse, codes, tmp_path, method="jacobian")
    res = ganmetric.load_result(tmp_path / point_name(1))
    ganmetric.save_result(tmp_path / "nan.npz", dataclasses.replace(res, H=res.H * np.nan), **{
        k: v for k, v in res.meta.items() if k not in ganmetric.result.RESERVED_KEYS})
    shutil.move(tmp_path / "nan.npz", tmp_path / point_name(1))      # as an earlier ganmetric could have saved it
    with pytest.raises(ganmetric.ResultFileError, match=r"point_00001.npz: non-finite values in its metric H"):
        load_results(tmp_path)
    s = batch_metric(tiny, mse, codes, tmp_path, method="jacobian")
    assert (s.computed, s.recomputed) == (1, 1) and len(load_results(tmp_path)) == 3


def test_the_size_of_a_batch_is_checked_before_anything_is_drawn(tmp_path, tiny, mse, monkeypatch):
    drawn = []
    monkeypatch.setattr(type(tiny), "sample", lambda self, n, seed=0: drawn.append(n))
    # a full float64 point of n = 6: H and eigenvectors 36 numbers each, eigenvalues and z 6 each: 84 x 8 bytes
    with pytest.raises(ganmetric.InputError, match=r"^max_points 10000 is fewer than the 1000000 points asked for: "
                                                   r"the batch would write about 720 MB \(1000000 result files of about 672 bytes "
                                                   r"each and 48 MB of codes\); raise it to run them") as e:
        batch_codes(tiny, 1_000_000, 0)
    assert e.value.argument == "max_points" and drawn == []
    monkeypatch.undo()
    with pytest.raises(ganmetric.InputError, match="max_points 4 is fewer than the 5 points asked for"):
        batch_metric(tiny, mse, tiny.sample(5), tmp_path / "b", method="jacobian", max_points=4)
    assert not (tmp_path / "b").exists()
    assert batch_codes(tiny, 5, 0, max_points=5).shape == (5, 6)


def test_a_second_run_is_refused_while_one_holds_the_folder(tmp_path, tiny, mse):
    from ganmetric.locks import FolderLock
    with FolderLock(tmp_path / "b"):                                 # another run, in the middle of its points
        with pytest.raises(ganmetric.FolderLockedError, match=r"b is in use by another ganmetric run \(pid \d+ on "):
            batch_metric(tiny, mse, tiny.sample(2), tmp_path / "b", method="jacobian")
    assert not (tmp_path / "b").exists()
    assert batch_metric(tiny, mse, tiny.sample(2), tmp_path / "b", method="jacobian").computed == 2


def test_a_full_disk_ends_the_run_with_one_error_and_keeps_the_points_written(tmp_path, tiny, mse, monkeypatch):
    import errno
    import os
    real_replace, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if str(dst).endswith(point_name(2)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(ganmetric.OutputError, match=r"point_00002.npz: No space left on device"):
        batch_metric(tiny, mse, tiny.sample(4), tmp_path, method="jacobian")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["codes.npy", "manifest.json", point_name(0), point_name(1)]
    assert json.loads((tmp_path / "manifest.json").read_text())["n_done"] == 2
    assert batch_metric(tiny, mse, tiny.sample(4), tmp_path, method="jacobian").computed == 2
