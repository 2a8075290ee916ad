"""Outputs that are all-or-nothing: folders written into a staging folder beside them and swapped in
whole, and files written side by side put in place together.

A command that writes a set of files into a folder (``invert``, ``path``, ``compress``,
``optimize``) writes them through :func:`staged_dir`::

    with staged_dir("inv", outputs=("*.npy", "*.png", "summary.json"), overwrite=False, what="invert") as stage:
        ...                                   # the long work, then every file into ``stage``
    # here "inv" holds the complete new set

While the run lasts it holds the folder's lock (:mod:`ganmetric.locks`: a second run into the
same folder is refused in one line naming the first). The files go into
``.NAME.staging-PID-XXXX`` beside the folder; only when the block ends without an error is
the staging folder swapped with the folder (one atomic ``renameat2(RENAME_EXCHANGE)`` on
Linux; elsewhere two renames, the old set first moved aside to ``.NAME.old-PID-XXXX``) and
the old set removed. So a kill at any moment before the swap leaves the previous complete set,
and after it the new complete set; an error or an exception inside the block removes the
staging folder and leaves the folder as it was. Staging and set-aside folders of earlier
killed runs are removed by the next run into the same folder (it holds the lock, so their
writers are dead; a set moved aside by a swap killed between its two renames is put back).

An existing folder is replaced only when it holds nothing but files this kind of run writes
(``outputs``: file-name patterns), and then only with ``overwrite``; a folder holding other
files is never replaced.

Commands that write a few files beside each other rather than a folder (``spectrum``'s
PREFIX.png, .csv and .json) write them inside :func:`written_together`: each file goes to its
temporary name, and all are renamed into place only when every one was written.
"""
from __future__ import annotations

import contextlib
import contextvars
import ctypes
import ctypes.util
import errno
import fnmatch
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import InputError, OutputError
from .locks import FolderLock

#: staging folders open in this process (a writer handed one writes into it directly)
_ACTIVE: set[str] = set()
#: (temporary file, final path) of the files written inside a written_together block
_PENDING: contextvars.ContextVar = contextvars.ContextVar("ganmetric_pending_files", default=None)


@contextlib.contextmanager
def written_together():
    """Put the files written inside the block (by :func:`ganmetric.io.atomic_write_bytes`) in place together at its end.

    Each file is written whole to its temporary name as usual, but renamed only when the
    block ends without an error; an error (a full disk at the third file) removes every
    temporary file, so none of the set replaces an earlier file. Nested blocks join the
    outermost one.

    Raises:
        OutputError: a rename failed (the files renamed before it stay).
    """
    if _PENDING.get() is not None:
        yield
        return
    pending: list = []
    token = _PENDING.set(pending)
    try:
        yield
    except BaseException:
        _discard(pending)
        raise
    finally:
        _PENDING.reset(token)
    for i, (tmp, path) in enumerate(pending):
        try:
            os.replace(tmp, path)
        except OSError as exc:
            _discard(pending[i:])
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _discard(pending) -> None:
    for tmp, _ in pending:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def pending_files() -> list | None:
    """The (temporary file, path) list of the innermost :func:`written_together` block, or None outside one."""
    return _PENDING.get()


def _listing(names, most: int = 4) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def check_output_dir(out, *, outputs=(), overwrite: bool = False, what: str = "this run") -> None:
    """Refuse, before any work, an output folder that :func:`staged_dir` would refuse (nothing is created).

    Raises:
        InputError: ``out`` is a file, the current folder (or holds it), holds files that do
            not match ``outputs``, or holds an earlier run's outputs and ``overwrite`` is not set.
    """
    path = Path(os.path.abspath(out))
    if str(path) not in _ACTIVE:
        _check_target(Path(os.path.realpath(path)) if path.is_symlink() else path, out, outputs, overwrite, what)


def _check_target(out: Path, shown, outputs, overwrite: bool, what: str) -> None:
    """Refuse a target that is the current folder, a file, holds other files or an earlier run's (no overwrite)."""
    cwd = Path.cwd().resolve()
    if out.resolve() == cwd or out.resolve() in cwd.parents:
        raise InputError(f"out_dir {shown} is the current folder or holds it; {what} replaces its output folder "
                         f"whole when it ends: choose a new folder", argument="out_dir")
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir():
        raise InputError(f"out_dir {shown} is a file; {what} writes a folder", argument="out_dir")
    names = sorted(os.listdir(out))
    foreign = [n for n in names if (out / n).is_dir() or not any(fnmatch.fnmatchcase(n, p) for p in outputs)]
    if foreign:
        raise InputError(f"out_dir {shown} holds files that {what} does not write ({_listing(foreign)}); the folder "
                         f"is replaced whole when the run ends, so choose a new or empty folder", argument="out_dir")
    if names and not overwrite:
        raise InputError(f"out_dir {shown} holds the outputs of an earlier run ({_listing(names)}); choose another "
                         "folder, or replace them with this run's: {overwrite}", argument="out_dir",
                         mentions=("overwrite",))


def _leftovers(out: Path, kind: str) -> list[Path]:
    prefix = f".{out.name}.{kind}-"
    return sorted((p for p in out.parent.iterdir() if p.name.startswith(prefix)), key=lambda p: p.stat().st_mtime)


def remove_stale_staging(out) -> None:
    """Remove the staging and set-aside folders earlier runs into ``out`` left behind (call it holding the lock).

    A set moved aside by a swap that was killed between its two renames (the folder itself
    missing) is put back in place first.
    """
    out = Path(os.path.abspath(out))
    aside = _leftovers(out, "old")
    if aside and not out.exists():
        os.rename(aside.pop(), out)
    for path in _leftovers(out, "staging") + aside:
        shutil.rmtree(path, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where that is not available."""
    try:
        renameat2 = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_in(stage: Path, out: Path) -> None:
    """Make ``stage`` the folder ``out`` and remove the set it replaces."""
    if not out.exists():
        os.rename(stage, out)
    elif _exchange(stage, out):
        shutil.rmtree(stage, ignore_errors=True)          # it now holds the old set
    else:
        aside = out.with_name(f".{out.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
        os.rename(out, aside)
        os.rename(stage, out)
        shutil.rmtree(aside, ignore_errors=True)


def _make_stage(out: Path) -> Path:
    try:
        stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.staging-{os.getpid()}-"))
    except OSError as exc:
        raise OutputError(f"cannot write {out}: cannot create a folder in {out.parent}: {exc.strerror or exc}"
                          ) from exc
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(stage, 0o777 & ~mask)  # mkdtemp makes 0700; the swapped-in folder is an ordinary folder
    return stage


@contextlib.contextmanager
def staged_dir(out, *, outputs=(), overwrite: bool = False, what: str = "this run") -> Iterator[Path]:
    """Lock ``out``, yield a fresh staging folder to write into, and swap it in whole when the block succeeds.

    Everything is checked on entry, before the block's work: the folder's parents are created,
    the lock is taken, and an existing folder is refused unless it holds only files matching
    ``outputs`` and ``overwrite`` is set. Called with a staging folder this process has open,
    it yields that folder as it is (a writer called inside another's block writes into its stage).

    Args:
        out: the output folder.
        outputs: file-name patterns (``fnmatch``) of everything this kind of run writes.
        overwrite: replace a folder that holds an earlier run's outputs.
        what: the command or function, for messages ("invert").

    Yields:
        The staging folder (empty).

    Raises:
        InputError: ``out`` is a file, the current folder, holds other files, or holds an
            earlier run's outputs and ``overwrite`` is not set.
        FolderLockedError: another run holds the folder.
        OutputError: the folder or its staging folder cannot be created.
    """
    shown = out
    out = Path(os.path.abspath(out))
    if str(out) in _ACTIVE:
        yield out
        return
    if out.is_symlink():
        out = Path(os.path.realpath(out))
    _check_target(out, shown, outputs, overwrite, what)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create folder {out.parent}: {exc.strerror or exc}") from exc
    with FolderLock(out):
        remove_stale_staging(out)
        _check_target(out, shown, outputs, overwrite, what)  # as it is now that no other run can change it
        stage = _make_stage(out)
        _ACTIVE.add(str(stage))
        try:
            yield stage
        except OutputError as exc:  # said with the folder's name, not the staging folder's
            shutil.rmtree(stage, ignore_errors=True)
            raise type(exc)(str(exc).replace(str(stage), str(shown))) from exc
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        finally:
            _ACTIVE.discard(str(stage))
        try:
            _swap_in(stage, out)
        except OSError as exc:
            shutil.rmtree(stage, ignore_errors=True)
            raise OutputError(f"cannot put the new files in place in {shown}: {exc.strerror or exc}") from exc
