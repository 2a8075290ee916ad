"""The batch command as real processes: killed mid-run and resumed, and split over two ranks by torchrun.

Every child runs with OMP_NUM_THREADS=1 (torchrun's default for its workers; pytest's own process runs
one thread too, tests/conftest.py), so the single-process and multi-process runs do the same
floating-point work. The signals land inside a chosen point for certain: the model waits at a gate
there until the test has signalled it.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import ganmetric
from click.testing import CliRunner
from ganmetric.analysis import point_name
from ganmetric_cli.main import main
from helpers import TinyConvGenerator, importable_from, sigint_as_at_a_terminal, subprocess_env

TESTS = Path(__file__).resolve().parent
pytestmark = [pytest.mark.slow, pytest.mark.integration]  # real processes and torchrun: ~25 s of CPU

N = 24

#: A user's generator module: the tiny conv net, behind a gate. With GM_GATE set, a forward pass
#: made once GM_GATE_AFTER point files exist announces itself (GM_GATE/waiting) and waits for
#: GM_GATE/open: the test then signals a process that is certainly inside a point, whatever
#: the machine's speed. Without GM_GATE it is the plain network (reference and torchrun runs).
#: With GM_NAN_AT (comma-separated codes' first coordinates) its images are NaN at those codes.
GATED_MODULE = textwrap.dedent('''
    import os
    import time
    from pathlib import Path

    import torch

    from helpers import TinyConvGenerator


    class GatedTiny(TinyConvGenerator):
        def _generate(self, z):
            _wait_at_the_gate()
            x = super()._generate(z)
            for first in filter(None, os.environ.get("GM_NAN_AT", "").split(",")):
                bad = (z[:, 0] == float(first)).reshape(-1, 1, 1, 1)
                x = torch.where(bad, torch.full_like(x, float("nan")), x)
            return x


    def _wait_at_the_gate():
        gate = os.environ.get("GM_GATE")
        if not gate or (Path(gate) / "open").exists():
            return
        if len(list(Path(os.environ["GM_GATE_OUT"]).glob("point_*.npz"))) < int(os.environ["GM_GATE_AFTER"]):
            return
        (Path(gate) / "waiting").touch()
        while not (Path(gate) / "open").exists():
            time.sleep(0.01)


    def make():
        return GatedTiny(n=8, res=16)
''')


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A folder holding the gated module and its weights (a state dict of the seeded tiny net)."""
    folder = tmp_path_factory.mktemp("model")
    (folder / "gm_gated_tiny.py").write_text(GATED_MODULE)
    torch.save(TinyConvGenerator(n=8, res=16).state_dict(), folder / "tiny.pt")
    return folder


def _cmd(model_dir, out, *extra):
    return ["-m", "ganmetric_cli", "batch", "--model", "gm_gated_tiny:make", "--weights", str(model_dir / "tiny.pt"),
            "--distance", "mse", "--dtype", "float64", "--points", str(N), "--seed", "3", "--out", str(out), "-q",
            *extra]


def _env(model_dir, **extra):
    env = subprocess_env(OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore", **extra)
    env["PYTHONPATH"] = os.pathsep.join([str(model_dir), str(TESTS), env["PYTHONPATH"]])
    return env


def _run(args, env, **kw):
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=300, **kw)


def _run_here(model_dir, out):
    """The batch command in this process (the module on sys.path for its duration only): its CliRunner result."""
    with importable_from(model_dir, "gm_gated_tiny"):
        return CliRunner().invoke(main, _cmd(model_dir, out)[2:])


@pytest.fixture(scope="module")
def reference(model_dir, tmp_path_factory):
    """The uninterrupted single-process folder, made in this process by the same command."""
    out = tmp_path_factory.mktemp("ref") / "b"
    res = _run_here(model_dir, out)
    assert res.exit_code == 0, res.output
    assert f"computed {N}" in res.output
    return out


def _assert_same_dir(a, b, failed=()):
    """Folder ``b`` holds ``a``'s points bitwise, but for the ``failed`` ones, which ``b`` records as failed."""
    for i in set(range(N)) - set(failed):
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
    ma, mb = (json.loads((d / "manifest.json").read_text()) for d in (a, b))
    assert [q["index"] for q in mb["points"] if q["status"] == "failed"] == list(failed)
    if failed:
        ma["points"] = [q for q in ma["points"] if q["index"] not in failed]
        mb["points"] = [q for q in mb["points"] if q["index"] not in failed]
        for key in ("n_done", "n_failed"):
            ma.pop(key), mb.pop(key)
    assert ma == mb
    assert np.array_equal(np.load(a / "codes.npy"), np.load(b / "codes.npy"))


def _all_valid(d):
    files = sorted(d.glob("point_*.npz"))
    for f in files:
        ganmetric.load_result(f)          # raises on a half-written file
    return len(files)


def _signal_inside_a_point(model_dir, out, sig, after, gate):
    """Run a batch that stops inside point ``after`` (the gate), send ``sig`` there, open the gate.

    Returns the exit status and stderr."""
    gate.mkdir()
    env = _env(model_dir, GM_GATE=str(gate), GM_GATE_OUT=str(out), GM_GATE_AFTER=str(after))
    p = subprocess.Popen([sys.executable, *_cmd(model_dir, out)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, preexec_fn=sigint_as_at_a_terminal)
    deadline = time.monotonic() + 240  # a hang guard only: the gate, not the clock, decides when
    while not (gate / "waiting").exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (gate / "waiting").exists(), p.communicate()[1]
    p.send_signal(sig)
    (gate / "open").touch()
    _, err = p.communicate(timeout=120)
    return p.returncode, err


def test_kill_and_resume_gives_identical_arrays(model_dir, reference, tmp_path):
    d = tmp_path / "b"
    # Ctrl-C inside point 3: that point is finished and saved, then the run stops (exit 130)
    rc, err = _signal_inside_a_point(model_dir, d, signal.SIGINT, 3, tmp_path / "gate1")
    assert rc == 130 and "Interrupted" in err and "Traceback" not in err, err
    assert not list(d.glob(".*.tmp"))     # the first Ctrl-C stops between points
    man = json.loads((d / "manifest.json").read_text())
    assert _all_valid(d) == man["n_done"] == 4
    for f in sorted(d.glob("point_*.npz"))[1::2]:
        f.unlink()                            # leave gaps for the resumed runs
    have = _all_valid(d)
    # SIGKILL inside a point of the resumed run: nothing half-written, the points before it kept
    rc, _ = _signal_inside_a_point(model_dir, d, signal.SIGKILL, have + 2, tmp_path / "gate2")
    assert rc == -signal.SIGKILL
    assert _all_valid(d) == have + 2
    assert json.loads((d / "manifest.json").read_text())["n_points"] == N   # never half-written either
    # a corrupt file among the kept ones is detected and recomputed
    kept = sorted(d.glob("point_*.npz"))[0]
    kept.write_bytes(kept.read_bytes()[:100])
    res = _run_here(model_dir, d)          # resumed in this process: nothing to signal there
    assert res.exit_code == 0, res.output
    assert f"computed {N - have - 1}" in res.stdout and "(recomputed 1 corrupt/stale)" in res.stdout, res.output
    assert f"{have + 1} already done" in res.stdout, res.output
    # bitwise on purpose: the resumed folder is written by the same code on the same inputs as the reference
    _assert_same_dir(reference, d)
    assert not list(d.glob(".*.tmp"))         # temporary files of the killed run are gone


def test_torchrun_two_ranks_match_one_process_and_rank_0_records_every_ranks_failed_points(model_dir, reference,
                                                                                          tmp_path):
    """Points 0 and 5 (of ranks 0 and 1) give NaN images: rank 0's manifest and error line name both; every
    other point is the single-process run's, bitwise."""
    d = tmp_path / "b"
    codes = np.load(reference / "codes.npy")
    env = _env(model_dir, GM_NAN_AT=",".join(repr(float(codes[i, 0])) for i in (0, 5)))
    p = _run(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *_cmd(model_dir, d)], env)
    assert p.returncode != 0 and "/ganmetric" not in p.stderr, p.stderr[-3000:]  # torchrun's own report only
    assert p.stderr.count(f"Error: 2 of {N} points failed (0, 5): the generator's output is not finite") == 1
    # rank 0 alone fails; rank 1 finished its points, but on a busy machine it may still be exiting when
    # rank 0 ends, and torchrun then stops it (SIGTERM): that is torchrun's report, not a failure of rank 1
    assert "local_rank: 0" in p.stderr, p.stderr[-3000:]
    rank1 = p.stderr.split("(local_rank: 1)", 1)[1][:200] if "(local_rank: 1)" in p.stderr else None
    assert rank1 is None or "exitcode  : -15" in rank1, p.stderr[-3000:]
    assert "on 2 process(es)" in p.stdout and f"computed {N - 2}" in p.stdout and "failed 2" in p.stdout, p.stdout
    manifest = json.loads((d / "manifest.json").read_text())
    assert (manifest["n_done"], manifest["n_failed"]) == (N - 2, 2)
    assert sorted(f.name for f in d.glob("point_*.npz")) == [point_name(i) for i in range(N) if i not in (0, 5)]
    _assert_same_dir(reference, d, failed=(0, 5))
