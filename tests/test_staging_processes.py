"""Output sets as real processes: killed (-9) while staging and after the swap, interrupted (SIGINT), and
two batch runs into one folder.

Every child waits at a gate the test opens, so that the signal lands where the test means it to,
whatever the machine's speed: the generator waits in its N-th forward pass (GM_GATE_AFTER), and a
wrapper around ``os.replace`` / ``shutil.rmtree`` waits when a given file is about to appear in a
staging folder (GM_KILL_AT) or right after the swap (GM_HOLD_AFTER_SWAP).
"""
from __future__ import annotations

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

from click.testing import CliRunner
from ganmetric.staging import remove_stale_staging
from ganmetric_cli.main import main
from helpers import importable_from, sigint_as_at_a_terminal, subprocess_env

pytestmark = [pytest.mark.slow, pytest.mark.integration]  # real processes (8 children, a few seconds each)

#: the model and objective, behind a gate in the generator's forward pass
GATED = textwrap.dedent('''
    import os
    import time
    from pathlib import Path

    import torch

    from ganmetric.generators.base import Generator


    def wait_at_the_gate():
        gate = Path(os.environ["GM_GATE"])
        (gate / "waiting").touch()
        while not (gate / "open").exists():
            time.sleep(0.01)


    class Gated(Generator):
        """tanh(A z) as 4x4 grey images; forward pass GM_GATE_AFTER waits at the gate."""

        def __init__(self):
            super().__init__(name="gated", latent_dim=4, resolution=4)
            g = torch.Generator().manual_seed(0)
            self.register_buffer("A", torch.randn(16, 4, generator=g) * 0.5)
            self.calls = 0
            self.freeze()

        def _generate(self, z):
            self.calls += 1
            if os.environ.get("GM_GATE_AFTER") and self.calls == int(os.environ["GM_GATE_AFTER"]):
                wait_at_the_gate()
            return torch.tanh(z @ self.A.T.to(z.dtype)).reshape(-1, 1, 4, 4)


    def make():
        return Gated()


    def brightness(x):
        return x.mean(dim=(1, 2, 3))
''')

#: runs the CLI with os.replace / shutil.rmtree waiting at the gate where the test says
RUNNER = textwrap.dedent('''
    import os
    import shutil
    import sys

    from gm_gated import wait_at_the_gate

    kill_at, hold_after_swap = os.environ.get("GM_KILL_AT"), os.environ.get("GM_HOLD_AFTER_SWAP")
    replace, rmtree = os.replace, shutil.rmtree


    def gated_replace(src, dst, *args, **kwargs):
        if kill_at and ".staging-" in str(dst) and os.path.basename(dst) == kill_at:
            wait_at_the_gate()                    # the file is about to appear in the staging folder
        return replace(src, dst, *args, **kwargs)


    def gated_rmtree(path, *args, **kwargs):
        if hold_after_swap and f".staging-{os.getpid()}-" in str(path):
            wait_at_the_gate()                    # the new set is in place; the old one (in our stage) is about to go
        return rmtree(path, *args, **kwargs)


    os.replace, shutil.rmtree = gated_replace, gated_rmtree
    from ganmetric_cli.main import main
    sys.argv[0] = "ganmetric"
    main()
''')


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lib")
    (folder / "gm_gated.py").write_text(GATED)
    (folder / "gm_run.py").write_text(RUNNER)
    from PIL import Image
    Image.fromarray((np.arange(16, dtype=np.uint8).reshape(4, 4) * 16)).save(folder / "target.png")
    np.save(folder / "dirs.npy", np.eye(4))
    return folder


#: the children of the running test, killed when it ends (a failed assertion leaves none waiting at a gate)
_CHILDREN: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_child_outlives_its_test():
    yield
    while _CHILDREN:
        p = _CHILDREN.pop()
        if p.poll() is None:
            p.kill()
            p.wait()


def _env(lib, gate: Path, **extra):
    env = subprocess_env(PYTHONWARNINGS="ignore", GM_GATE=str(gate), **{k: str(v) for k, v in extra.items()})
    env["PYTHONPATH"] = os.pathsep.join([str(lib), env["PYTHONPATH"]])
    return env


def _start(lib, gate: Path, args, **extra) -> subprocess.Popen:
    gate.mkdir(exist_ok=True)
    for name in ("waiting", "open"):
        (gate / name).unlink(missing_ok=True)
    p = subprocess.Popen([sys.executable, str(lib / "gm_run.py"), *map(str, args)], env=_env(lib, gate, **extra),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=sigint_as_at_a_terminal)
    _CHILDREN.append(p)
    return p


def _wait_at_gate(p: subprocess.Popen, gate: Path, timeout: float = 120) -> None:
    t0 = time.monotonic()
    while not (gate / "waiting").exists():
        if p.poll() is not None:
            raise AssertionError(f"the child ended before the gate: {p.communicate()}")
        assert time.monotonic() - t0 < timeout, "the child never reached the gate"
        time.sleep(0.02)


def _run_here(lib, args):
    """The same command in this process (no gate, nothing to kill): exit status, stdout, stderr."""
    with importable_from(lib, "gm_gated"):
        res = CliRunner().invoke(main, [str(a) for a in args])
    return res.exit_code, res.stdout, res.stderr


def _set(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}."))


INVERT = ["invert", "--model", "gm_gated:make", "--latent-dim", 4, "--distance", "mse", "--steps", 20, "--restarts", 3,
          "--lr", 0.1, "-q"]


def test_kill_9_before_the_swap_keeps_the_previous_set_and_after_it_the_new_one(lib, tmp_path):
    out, gate = tmp_path / "inv", tmp_path / "gate"
    base = INVERT + ["--image", lib / "target.png", "--out", out]
    rc, _, err = _run_here(lib, base + ["--seed", 0])
    assert rc == 0, err
    previous = _set(out)
    p = _start(lib, gate, base + ["--seed", 5, "--overwrite"], GM_KILL_AT="loss_curve.png")
    _wait_at_gate(p, gate)
    stage = [s for s in tmp_path.iterdir() if s.name.startswith(".inv.staging-")]
    assert len(stage) == 1 and {"code.npy", "codes.npy", "fit.png"} <= set(os.listdir(stage[0]))
    p.kill()
    p.wait()
    assert _set(out) == previous                                  # the previous complete set, untouched
    p = _start(lib, gate, base + ["--seed", 5, "--overwrite"], GM_HOLD_AFTER_SWAP=1)
    _wait_at_gate(p, gate)
    assert not stage[0].exists()                                  # the killed run's stage, removed by this run
    p.kill()
    p.wait()
    new = _set(out)
    summary = json.loads(new["summary.json"])
    assert summary["settings"]["seed"] == 5 and set(new) == set(previous)   # the new complete set
    codes = np.load(out / "codes.npy")
    np.testing.assert_array_equal(np.load(out / "code.npy"), codes[summary["best_restart"]])
    assert len(_leftovers(out)) == 2                              # the old set (in the dead run's stage), its lock
    remove_stale_staging(out)                                     # what the next run into the folder does first
    assert _leftovers(out) == [f".{out.name}.lock"] and _set(out) == new


def _interrupt(lib, tmp_path, args, gate_after: int):
    gate = tmp_path / "gate"
    p = _start(lib, gate, args, GM_GATE_AFTER=gate_after)
    _wait_at_gate(p, gate)
    p.send_signal(signal.SIGINT)
    time.sleep(0.5)          # the handler runs while the gate's loop sleeps; then the step goes on
    (gate / "open").touch()
    out, err = p.communicate(timeout=300)
    return p.returncode, out, err


def test_ctrl_c_on_invert_writes_the_best_code_so_far(lib, tmp_path):
    out = tmp_path / "inv"
    rc, stdout, err = _interrupt(lib, tmp_path, INVERT + ["--image", lib / "target.png", "--out", out], gate_after=5)
    assert rc == 130, err
    assert "Interrupted: the best code so far and the rest are written in" in err and "Traceback" not in err
    summary = json.loads((out / "summary.json").read_text())
    done = summary["steps_done"][0]                               # the step of the 5th forward pass, then stopped
    assert summary["interrupted"] is True and summary["steps_done"] == [done] * 3 and 1 <= done < 20
    losses = np.load(out / "losses.npy")
    assert losses.shape == (3, 20) and np.isfinite(losses[:, :done]).all() and np.isnan(losses[:, done:]).all()
    codes = np.load(out / "codes.npy")
    np.testing.assert_array_equal(np.load(out / "code.npy"), codes[summary["best_restart"]])
    assert sorted(os.listdir(out)) == sorted(summary["files"].values()) and _leftovers(out) == []
    assert f"interrupted: 3 of 3 restarts run, {done}-{done} of 20 steps each" in stdout


def test_ctrl_c_on_path_writes_the_paths_made_so_far(lib, tmp_path):
    out = tmp_path / "p"
    args = ["path", "--model", "gm_gated:make", "--latent-dim", 4, "--distance", "mse", "--from-seed", 1, "--to-seed",
            2, "--points", 5, "--max-iter", 500, "--tol", 1e-12, "-q", "--out", out]
    rc, stdout, err = _interrupt(lib, tmp_path, args, gate_after=8)
    assert rc == 130, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and list(summary["paths"]) == ["geodesic"]
    assert summary["paths"]["geodesic"]["converged"] is False
    assert sorted(os.listdir(out)) == sorted(summary["files"].values())
    assert sorted(summary["files"].values()) == ["codes_geodesic.npy", "montage.png", "path_geodesic.gif",
                                                 "steps.png", "summary.json"]
    assert np.load(out / "codes_geodesic.npy").shape == (5, 4)
    assert "not made: linear, slerp" in stdout and "Interrupted: the paths made so far" in err


def test_ctrl_c_on_compress_writes_the_samples_measured(lib, tmp_path):
    out = tmp_path / "c"
    args = ["compress", "--model", "gm_gated:make", "--latent-dim", 4, "--distance", "mse", "--directions",
            lib / "dirs.npy", "--samples", 130, "--ks", "1,2", "--random-bases", 1, "-q", "--out", out]
    rc, stdout, err = _interrupt(lib, tmp_path, args, gate_after=3)    # inside the first chunk of 64 samples
    assert rc == 130, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and (summary["n_samples"], summary["n_samples_requested"]) == (64, 130)
    assert np.load(out / "codes_k1.npy").shape == (64, 4)
    assert sorted(os.listdir(out)) == ["codes_k1.npy", "codes_k2.npy", "curve.csv", "curve.png", "montage.png",
                                       "summary.json"]
    assert "(interrupted: 64 of 130 measured)" in stdout


def test_ctrl_c_on_optimize_says_only_what_it_wrote(lib, tmp_path):
    out = tmp_path / "o"
    args = ["optimize", "--model", "gm_gated:make", "--latent-dim", 4, "--objective", "gm_gated:brightness",
            "--method", "random,cma", "--budget", 40, "--popsize", 4, "--seeds", 2, "-q", "--out", out]
    rc, stdout, err = _interrupt(lib, tmp_path, args, gate_after=3)    # in random's third generation, seed 0
    assert rc == 130, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and [r["label"] for r in summary["runs"]] == ["random"]
    assert sorted(os.listdir(out)) == ["best_montage.png", "best_random_s0.npy", "best_random_s0.png", "curves.png",
                                       "scores.csv", "summary.json", "trace_random_s0.csv"]
    assert "wins 0/0" not in stdout and "median best n/a" not in stdout and "cma              not run" in stdout
    assert "no seed ran every method to its budget: no medians or wins" in stdout
    assert (f"wrote {out}/: summary.json, scores.csv, curves.png, best_montage.png, 1 trace_METHOD_sSEED.csv, "
            f"1 best_METHOD_sSEED.npy/.png") in stdout


def test_a_second_batch_run_into_the_folder_is_refused_naming_the_first(lib, tmp_path):
    out, gate = tmp_path / "b", tmp_path / "gate"
    base = ["batch", "--model", "gm_gated:make", "--latent-dim", 4, "--distance", "mse", "--method", "jacobian",
            "-q", "--out", out]
    first = _start(lib, gate, base + ["--points", 6], GM_GATE_AFTER=6)   # in its third point
    _wait_at_gate(first, gate)
    rc, _, err = _run_here(lib, base + ["--points", 6, "--seed", 9])
    assert rc == 1 and err.count("Error:") == 1 and "Traceback" not in err
    assert f"Error: {out} is in use by another ganmetric run (pid {first.pid} on " in err
    (gate / "open").touch()
    stdout, err = first.communicate(timeout=300)
    assert first.returncode == 0 and "computed 6" in stdout, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["n_done"] == 6 and len(list(out.glob("point_*.npz"))) == 6
    first = _start(lib, gate, base + ["--points", 8], GM_GATE_AFTER=4)   # extended, then killed mid-point
    _wait_at_gate(first, gate)
    first.kill()
    first.wait()
    rc, stdout, err = _run_here(lib, base + ["--points", 8])  # the dead run's lock does not block
    assert rc == 0 and "computed 2" in stdout and "kept 6 already done" in stdout, err
