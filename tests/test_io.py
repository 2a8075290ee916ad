"""Files: atomic writes, strict JSON, what a file is, torch weights read in plain words."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import ganmetric
from ganmetric.errors import InputError
from ganmetric.io import atomic_write_bytes, describe_file, json_text, load_torch_file, modules_named


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


def test_strict_json_text():
    text = json_text({"a": float("nan"), "b": [1.0, float("inf")], "c": np.float64(2.5), "d": np.arange(2)})
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": 2.5, "d": [0, 1]}
    assert "NaN" not in text and "Infinity" not in text


def test_describe_file_says_what_a_file_is(tmp_path):
    from PIL import Image
    Image.new("RGB", (4, 4)).save(tmp_path / "p.jpg")
    Image.new("RGB", (4, 4)).save(tmp_path / "p.png")
    np.save(tmp_path / "a.npy", np.zeros(2))
    np.savez(tmp_path / "a.npz", x=np.zeros(2))
    torch.save({"w": torch.zeros(2)}, tmp_path / "w.pt")
    (tmp_path / "junk").write_bytes(b"hello")
    assert [describe_file(tmp_path / n) for n in ("p.jpg", "p.png", "a.npy", "a.npz", "w.pt", "junk", "none")] == [
        "a JPEG image", "a PNG image", "a numpy .npy array", "a numpy .npz archive", "a PyTorch file (torch.save)",
        None, None]


def test_describe_file_tells_a_torchscript_file_from_a_torch_save(tmp_path):
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(tmp_path / "m.pt"))
    torch.save({"w": torch.ones(2)}, tmp_path / "w.pt")
    assert describe_file(tmp_path / "m.pt") == "a TorchScript file (torch.jit.save)"
    assert describe_file(tmp_path / "w.pt") == "a PyTorch file (torch.save)"


def test_torch_files_are_read_without_unsafe_advice(tmp_path):
    from PIL import Image
    Image.new("RGB", (4, 4)).save(tmp_path / "p.jpg")
    with pytest.raises(ganmetric.WeightsError, match="p.jpg is a JPEG image, not weights saved with torch.save"):
        load_torch_file(tmp_path / "p.jpg")
    torch.save({"layer": torch.nn.Linear(2, 2)}, tmp_path / "module.pt")
    with pytest.raises(ganmetric.WeightsError, match="holds Python objects other than tensors") as info:
        load_torch_file(tmp_path / "module.pt")
    assert "weights_only" not in str(info.value)
    with pytest.raises(InputError, match="weights file not found"):
        load_torch_file(tmp_path / "none.pt")
    torch.save({"w": torch.ones(2)}, tmp_path / "ok.pt")
    assert torch.equal(load_torch_file(tmp_path / "ok.pt")["w"], torch.ones(2))  # a copy of stored values


def test_safetensors_files_are_read_as_state_dicts(tmp_path):
    from safetensors.torch import save_file
    state = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.ones(2, dtype=torch.float64)}
    save_file(state, tmp_path / "s.safetensors")
    (tmp_path / "renamed.bin").write_bytes((tmp_path / "s.safetensors").read_bytes())
    assert describe_file(tmp_path / "renamed.bin") == "a safetensors file"
    for name in ("s.safetensors", "renamed.bin"):  # by suffix, and by content
        got = load_torch_file(tmp_path / name)
        assert set(got) == set(state) and all(torch.equal(got[k], state[k]) for k in state)
    (tmp_path / "bad.safetensors").write_bytes((tmp_path / "s.safetensors").read_bytes()[:20])
    with pytest.raises(ganmetric.WeightsError, match=r"bad.safetensors is not a readable safetensors file") as info:
        load_torch_file(tmp_path / "bad.safetensors")
    assert "\n" not in str(info.value)


def test_temporary_files_carry_the_writers_pid_and_dead_writers_ones_are_removed(tmp_path, monkeypatch):
    import os
    import time
    target = tmp_path / "r.npz"
    real_replace, seen = os.replace, []
    monkeypatch.setattr(os, "replace", lambda src, dst: seen.append(os.path.basename(src)) or real_replace(src, dst))
    atomic_write_bytes(target, b"x")
    assert seen[0].startswith(f".r.npz.{os.getpid()}-") and seen[0].endswith(".tmp")
    old = time.time() - 3600 * 2
    dead = tmp_path / ".r.npz.999999999-abcd1234.tmp"           # no such process
    live = tmp_path / f".r.npz.{os.getppid()}-abcd1234.tmp"     # a running process (e.g. another ganmetric)
    legacy = tmp_path / ".r.npz.abcd1234.tmp"                   # named before temporary files carried a pid
    fresh_dead = tmp_path / ".r.npz.999999998-abcd1234.tmp"     # too young to tell from a writer on another host
    for path in (dead, live, legacy, fresh_dead):
        path.write_bytes(b"debris")
        if path is not fresh_dead:
            os.utime(path, (old, old))
    atomic_write_bytes(target, b"y")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["r.npz", live.name, fresh_dead.name])


def test_a_full_disk_is_one_output_error_and_no_file(tmp_path, monkeypatch):
    import errno
    import os
    from ganmetric.errors import OutputError

    def replace(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    atomic_write_bytes(tmp_path / "x.bin", b"old")
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OutputError, match=r"cannot write .*x\.bin: No space left on device"):
        atomic_write_bytes(tmp_path / "x.bin", b"new")
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"] and (tmp_path / "x.bin").read_bytes() == b"old"


def test_file_outputs_check_their_suffix(tmp_path):
    from ganmetric.io import check_suffix, save_npz_with_meta
    assert check_suffix(tmp_path / "a.NPZ", (".npz",), "a result file") == tmp_path / "a.NPZ"
    with pytest.raises(InputError, match=r"^path is written as a numpy \.npz archive: its name must end in \.npz, "
                                         r"got t3\.txt$") as info:
        save_npz_with_meta(tmp_path / "t3.txt", {"x": np.zeros(2)}, {"format": "x"})
    assert info.value.argument == "path" and not (tmp_path / "t3.txt").exists()


def test_modules_named_registers_stand_ins_and_puts_back_what_held_each_name():
    import sys
    import types
    before = sys.modules["json"]
    stand_ins = {"json": types.ModuleType("json"), "gm_no_such_pkg.mod": types.ModuleType("gm_no_such_pkg.mod")}
    with pytest.raises(RuntimeError):
        with modules_named(stand_ins):
            assert sys.modules["json"] is stand_ins["json"]
            assert sys.modules["gm_no_such_pkg.mod"] is stand_ins["gm_no_such_pkg.mod"]
            raise RuntimeError("the names are restored on the way out of an error too")
    assert sys.modules["json"] is before and "gm_no_such_pkg.mod" not in sys.modules
