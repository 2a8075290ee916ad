"""Model and weight files from the Hugging Face Hub: ``hf://OWNER/REPO/PATH[@REVISION]``.

The file is resolved through ``huggingface_hub.hf_hub_download`` (optional extra ``hub``), so
the user's Hub cache is used and filled, and ``HF_HUB_OFFLINE=1`` (read when the file is
asked for) means the cache only. ``HF_HUB_CACHE`` / ``HF_HOME`` choose the cache as in the
Hub's own tools. What was loaded is recorded exactly: the repository, the revision the
name resolved to (the commit of the snapshot), the path in the repository and the file's
sha256. The file is then loaded by its format like any local file (see :mod:`.formats`).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, WeightsError
from ..io import sha256_file

PREFIX = "hf://"
FORM = "hf://OWNER/REPO/PATH[@REVISION]"
#: an owner or repository name as the Hub allows them
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?")


def is_hf(value) -> bool:
    """Whether ``value`` is an ``hf://`` reference (a string starting with ``hf://``)."""
    return isinstance(value, str) and value.startswith(PREFIX)


@dataclass(frozen=True)
class HubFile:
    """A parsed ``hf://`` reference.

    Attributes:
        repo: ``OWNER/REPO``.
        path: the file's path inside the repository.
        revision: a branch, tag or commit (None: the default branch, ``main``).
    """

    repo: str
    path: str
    revision: str | None = None


def parse(spec: str, *, argument: str = "model") -> HubFile:
    """Split ``hf://OWNER/REPO/PATH[@REVISION]``.

    Raises:
        InputError: a malformed reference (one line, showing the form).
    """
    body = spec[len(PREFIX):] if is_hf(spec) else ""
    revision = None
    if "@" in body:
        body, revision = body.rsplit("@", 1)
    parts = body.split("/")
    bad = (len(parts) < 3 or not all(_NAME.fullmatch(p) for p in parts[:2]) or any(
        s in parts[0] + parts[1] for s in ("--", "..")) or any(p in ("", ".", "..") for p in parts[2:])
        or revision == "" or (revision is not None and not re.fullmatch(r"[\w.\-/]+", revision)))
    if bad:
        raise InputError(f"{spec} is not a Hugging Face file reference: expected {FORM} (e.g. "
                         f"hf://owner/gans/celeba.pth or hf://owner/gans/G.pth@v1.0)", argument=argument)
    return HubFile(f"{parts[0]}/{parts[1]}", "/".join(parts[2:]), revision)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def cache_folder() -> Path:
    """The Hub cache in effect now: ``HF_HUB_CACHE``, else ``HF_HOME/hub``, else ``~/.cache/huggingface/hub``."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(home).expanduser() / "hub"


def _resolved_commit(local: Path, ref: HubFile) -> str:
    """The commit of the snapshot folder the file was found in (``.../snapshots/<commit>/<path>``)."""
    parts = Path(local).parts
    depth = len(Path(ref.path).parts)
    if len(parts) > depth + 1 and parts[-depth - 2] == "snapshots":
        return parts[-depth - 1]
    return ref.revision or "main"


def resolve(spec: str, *, argument: str = "model") -> tuple[Path, dict]:
    """The local copy of an ``hf://`` file (downloaded unless offline) and its record.

    Args:
        spec: ``hf://OWNER/REPO/PATH[@REVISION]``.
        argument: the argument it came in (``model`` or ``weights``), for messages.

    Returns:
        ``(path, {"source": "hf", "repo", "revision" (the resolved commit), "path", "sha256"})``.

    Raises:
        InputError: malformed, ``huggingface_hub`` missing, or the file not in the cache offline
            (one line naming the repository and file).
        WeightsError: the Hub has no such repository, revision or file, or the download failed.
    """
    ref = parse(spec, argument=argument)
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub import errors as hub_errors
    except ImportError:
        raise InputError(f"{spec}: hf:// files need the huggingface_hub package: pip install 'ganmetric[hub]'",
                         argument=argument) from None
    offline = _offline()
    try:
        local = hf_hub_download(ref.repo, ref.path, revision=ref.revision, cache_dir=str(cache_folder()),
                                local_files_only=offline)
    except hub_errors.LocalEntryNotFoundError:
        at = f" at revision {ref.revision}" if ref.revision else ""
        why = "HF_HUB_OFFLINE is set" if offline else "the Hub cannot be reached"
        rev = f" --revision {ref.revision}" if ref.revision else ""
        raise InputError(f"{spec}: file {ref.path} of the Hugging Face repository {ref.repo}{at} is not in the cache "
                         f"{cache_folder()} and {why}; download it once online (hf download {ref.repo} {ref.path}{rev})",
                         argument=argument) from None
    except (hub_errors.RepositoryNotFoundError, hub_errors.RevisionNotFoundError,
            hub_errors.EntryNotFoundError, hub_errors.HfHubHTTPError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"{spec}: the Hugging Face Hub has no file {ref.path} in {ref.repo} ({first[:160]})") \
            from None
    local = Path(local)
    record = {"source": "hf", "repo": ref.repo, "revision": _resolved_commit(local, ref), "path": ref.path,
              "sha256": sha256_file(local)}
    return local, record


def cached(spec: str) -> Path | None:
    """The local copy of an ``hf://`` file if the cache has it (never downloads), else None."""
    try:
        ref = parse(spec)
        from huggingface_hub import errors as hub_errors
        from huggingface_hub import hf_hub_download
    except (InputError, ImportError):
        return None
    try:
        return Path(hf_hub_download(ref.repo, ref.path, revision=ref.revision, cache_dir=str(cache_folder()),
                                    local_files_only=True))
    except (hub_errors.LocalEntryNotFoundError, hub_errors.HfHubHTTPError, ValueError):
        return None
