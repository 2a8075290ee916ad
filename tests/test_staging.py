"""staged_dir and written_together: an output set is replaced whole or not at all."""
from __future__ import annotations

import errno
import os

import pytest

from ganmetric import staging
from ganmetric.errors import FolderLockedError, InputError, OutputError
from ganmetric.io import atomic_write_bytes, write_json
from ganmetric.locks import FolderLock, lock_path
from ganmetric.staging import check_output_dir, remove_stale_staging, staged_dir, written_together

OUTPUTS = ("a.txt", "b.txt", "codes_*.npy")


def _write_set(folder, tag: str) -> None:
    atomic_write_bytes(folder / "a.txt", tag.encode())
    atomic_write_bytes(folder / "b.txt", tag.encode())


def _contents(folder) -> dict:
    return {p.name: p.read_text() for p in sorted(folder.iterdir())}


def _debris(parent, name: str) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_a_set_replaces_the_previous_one_whole(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(staging, "_exchange", lambda a, b: False)
    out = tmp_path / "deep" / "out"
    with staged_dir(out, outputs=OUTPUTS) as stage:
        assert stage.parent == out.parent and stage.name.startswith(".out.staging-") and not out.exists()
        assert lock_path(out).exists()                       # the lock is held while the set is written
        _write_set(stage, "one")
    assert _contents(out) == {"a.txt": "one", "b.txt": "one"}
    with staged_dir(out, outputs=OUTPUTS, overwrite=True) as stage:
        atomic_write_bytes(stage / "a.txt", b"two")            # the new set has one file: b.txt goes too
        assert _contents(out) == {"a.txt": "one", "b.txt": "one"}
    assert _contents(out) == {"a.txt": "two"}
    assert _debris(out.parent, "out") == []                   # no stage, no set aside, no lock file


def test_an_error_inside_the_block_leaves_the_previous_set(tmp_path):
    out = tmp_path / "out"
    with staged_dir(out, outputs=OUTPUTS) as stage:
        _write_set(stage, "one")
    with pytest.raises(KeyboardInterrupt):
        with staged_dir(out, outputs=OUTPUTS, overwrite=True) as stage:
            atomic_write_bytes(stage / "a.txt", b"two")
            raise KeyboardInterrupt
    assert _contents(out) == {"a.txt": "one", "b.txt": "one"} and _debris(tmp_path, "out") == []


def test_a_full_disk_is_one_output_error_and_leaves_the_previous_set(tmp_path, monkeypatch):
    out = tmp_path / "out"
    with staged_dir(out, outputs=OUTPUTS) as stage:
        _write_set(stage, "one")
    real_fsync, calls = os.fsync, []

    def fsync(fd):  # the second file's data does not fit
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OutputError, match=rf"^cannot write {out}/b\.txt: No space left on device$"):
        with staged_dir(out, outputs=OUTPUTS, overwrite=True) as stage:
            _write_set(stage, "two")
    assert _contents(out) == {"a.txt": "one", "b.txt": "one"} and _debris(tmp_path, "out") == []


def test_folders_of_earlier_runs_and_other_files_are_refused(tmp_path, monkeypatch):
    out = tmp_path / "out"
    with staged_dir(out, outputs=OUTPUTS) as stage:
        _write_set(stage, "one")
    with pytest.raises(InputError, match=r"holds the outputs of an earlier run \(a.txt, b.txt\).*overwrite") as info:
        with staged_dir(out, outputs=OUTPUTS):
            pass
    assert info.value.argument == "out_dir" and info.value.mentions == ("overwrite",)
    (out / "notes.md").write_text("mine")
    for overwrite in (False, True):  # never replaced: the folder would lose notes.md
        with pytest.raises(InputError, match=r"holds files that this run does not write \(notes.md\)") as info:
            check_output_dir(out, outputs=OUTPUTS, overwrite=overwrite)
        assert info.value.argument == "out_dir"
    assert (out / "notes.md").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file; compress writes a folder"):
        check_output_dir(tmp_path / "file", outputs=OUTPUTS, what="compress")
    monkeypatch.chdir(out)
    with pytest.raises(InputError, match="is the current folder or holds it"):
        check_output_dir(".", outputs=OUTPUTS, overwrite=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    with staged_dir(empty, outputs=OUTPUTS) as stage:       # an empty folder is not an earlier run
        _write_set(stage, "x")
    assert sorted(os.listdir(empty)) == ["a.txt", "b.txt"]


def test_a_second_run_into_the_folder_is_refused_while_the_first_holds_it(tmp_path):
    out = tmp_path / "out"
    with staged_dir(out, outputs=OUTPUTS) as stage:
        with pytest.raises(FolderLockedError, match=rf"out is in use by another ganmetric run \(pid {os.getpid()} on "):
            with staged_dir(out, outputs=OUTPUTS):
                pass
        _write_set(stage, "one")
    assert _contents(out) == {"a.txt": "one", "b.txt": "one"}


def test_a_writer_given_an_open_stage_writes_into_it(tmp_path):
    out = tmp_path / "out"
    with staged_dir(out, outputs=OUTPUTS) as stage:
        with staged_dir(stage, outputs=OUTPUTS) as inner:     # e.g. Compression.save(stage) inside compress()
            assert inner == stage
            _write_set(inner, "one")
    assert _contents(out) == {"a.txt": "one", "b.txt": "one"}


def test_leftovers_of_killed_runs_are_removed_and_a_set_aside_is_put_back(tmp_path):
    out = tmp_path / "out"
    stale = tmp_path / ".out.staging-99999999-abcd"
    stale.mkdir()
    (stale / "a.txt").write_text("half")
    aside = tmp_path / ".out.old-99999999-abcd"               # a swap killed between its two renames
    aside.mkdir()
    (aside / "a.txt").write_text("previous")
    remove_stale_staging(out)
    assert _contents(out) == {"a.txt": "previous"} and _debris(tmp_path, "out") == []
    stale.mkdir()
    with staged_dir(out, outputs=OUTPUTS, overwrite=True) as stage:  # the next run removes what is stale
        assert not stale.exists()
        _write_set(stage, "new")
    assert _contents(out) == {"a.txt": "new", "b.txt": "new"}


def test_a_dead_holders_lock_file_does_not_block(tmp_path):
    out = tmp_path / "out"
    lock_path(out).write_text("pid 99999999 on elsewhere, started long ago")  # left by a kill -9
    with FolderLock(out) as lock:
        assert lock.held and str(os.getpid()) in lock_path(out).read_text()
    assert not lock_path(out).exists()


def test_files_written_together_are_all_put_in_place_or_none(tmp_path, monkeypatch):
    write_json(tmp_path / "s.json", {"v": 1})
    atomic_write_bytes(tmp_path / "s.csv", b"old")
    real_replace, seen = os.replace, []

    def replace(src, dst):
        seen.append(dst)
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(RuntimeError):
        with written_together():
            write_json(tmp_path / "s.json", {"v": 2})
            atomic_write_bytes(tmp_path / "s.csv", b"new")
            raise RuntimeError("the plot failed")
    assert seen == [] and (tmp_path / "s.csv").read_bytes() == b"old" and '"v": 1' in (tmp_path / "s.json").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv", "s.json"]       # no temporary file left
    with written_together():
        write_json(tmp_path / "s.json", {"v": 2})
        atomic_write_bytes(tmp_path / "s.csv", b"new")
        assert (tmp_path / "s.csv").read_bytes() == b"old"                         # not yet in place
    assert (tmp_path / "s.csv").read_bytes() == b"new" and '"v": 2' in (tmp_path / "s.json").read_text()
