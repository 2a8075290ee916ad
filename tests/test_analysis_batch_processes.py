"""The batch command as real processes: killed mid-run and resumed, and split over two ranks by torchrun.

Every child runs with OMP_NUM_THREADS=1 (torchrun's default for its workers), so the
single-process and multi-process runs do the same floating-point work.
"""
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import ganmetric
from conftest import subprocess_env
from ganmetric.analysis import point_name
from helpers_analysis import save_traced_tiny

N = 24


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    return save_traced_tiny(tmp_path_factory.mktemp("model") / "tiny.pt", n=8, res=16)


def _cmd(model, out, *extra):
    return ["-m", "ganmetric_cli", "batch", "--model", str(model), "--latent-dim", "8", "--distance", "mse",
            "--dtype", "float64", "--points", str(N), "--seed", "3", "--out", str(out), "-q", *extra]


ENV = subprocess_env(OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")


def _run(args, **kw):
    return subprocess.run([sys.executable, *args], env=ENV, capture_output=True, text=True, timeout=300, **kw)


@pytest.fixture(scope="module")
def reference(tiny_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "b"
    p = _run(_cmd(tiny_file, out))
    assert p.returncode == 0, p.stderr
    assert f"computed {N}" in p.stdout
    return out


def _assert_same_dir(a, b):
    for i in range(N):
        with np.load(a / point_name(i)) as x, np.load(b / point_name(i)) as y:
            assert sorted(x.files) == sorted(y.files)
            for key in x.files:
                if key == "meta":
                    mx, my = (json.loads(str(f["meta"])) for f in (x, y))
                    for m in (mx, my):
                        m.pop("seconds")
                    assert mx == my
                else:
                    assert np.array_equal(x[key], y[key]), (i, key)  # bitwise on purpose: resumed == uninterrupted
    assert json.loads((a / "manifest.json").read_text()) == json.loads((b / "manifest.json").read_text())
    assert np.array_equal(np.load(a / "codes.npy"), np.load(b / "codes.npy"))


def _all_valid(d):
    files = sorted(d.glob("point_*.npz"))
    for f in files:
        ganmetric.load_result(f)          # raises on a half-written file
    return len(files)


def _start_and_kill(args, d, sig, at_least):
    p = subprocess.Popen([sys.executable, *args], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    deadline = time.monotonic() + 120
    while len(list(d.glob("point_*.npz"))) < at_least and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    return p.returncode, err


def test_kill_and_resume_gives_identical_arrays(tiny_file, reference, tmp_path):
    d = tmp_path / "b"
    rc, err = _start_and_kill(_cmd(tiny_file, d), d, signal.SIGINT, 2)
    if rc != 0:                               # (a fast machine may finish before the signal lands)
        assert rc == 130 and "Interrupted" in err and "Traceback" not in err, err
        assert not list(d.glob(".*.tmp"))     # the first Ctrl-C stops between points
        man = json.loads((d / "manifest.json").read_text())
        assert man["n_done"] == len(list(d.glob("point_*.npz"))) < N
    _all_valid(d)
    for f in sorted(d.glob("point_*.npz"))[1::2]:
        f.unlink()                            # leave work for the next run whatever the timing
    have = _all_valid(d)
    _start_and_kill(_cmd(tiny_file, d), d, signal.SIGKILL, have + 2)
    assert _all_valid(d) >= have
    assert json.loads((d / "manifest.json").read_text())["n_points"] == N   # never half-written either
    # a corrupt file among the kept ones is detected and recomputed
    kept = sorted(d.glob("point_*.npz"))[0]
    kept.write_bytes(kept.read_bytes()[:100])
    p = _run(_cmd(tiny_file, d))
    assert p.returncode == 0, p.stderr
    assert "already done" in p.stdout and "(recomputed 1 corrupt/stale)" in p.stdout
    _assert_same_dir(reference, d)
    assert not list(d.glob(".*.tmp"))         # temporary files of the killed run are gone


def test_torchrun_two_ranks_match_one_process(tiny_file, reference, tmp_path):
    d = tmp_path / "b"
    p = _run(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *_cmd(tiny_file, d)])
    assert p.returncode == 0, p.stderr[-3000:]
    assert "on 2 process(es)" in p.stdout and f"computed {N}" in p.stdout
    _assert_same_dir(reference, d)
