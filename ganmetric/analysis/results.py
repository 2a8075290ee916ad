"""Load a set of result files (a batch directory or a list of files) and check that they belong together.

Points that are not results are left out and counted (:attr:`ResultSet.skipped`, said by
:meth:`ResultSet.describe`): the points a batch folder's manifest records as failed (their
image or metric was not finite) and the points it has not computed yet. (A result file
holding non-finite values is refused by :func:`ganmetric.load_result`.)
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..distances.spec import recorded_distance_differences
from ..errors import InputError, ResultFileError
from ..generators.spec import recorded_model_differences
from ..placement import as_numpy
from ..result import MetricResult, load_result
from .batch_folder import MANIFEST

#: meta keys that must agree across a set (a spectrum or homogeneity over mixed models means nothing)
CONSISTENT_KEYS = ("model", "latent_space", "distance")


@dataclass(frozen=True)
class ResultSet:
    """Several results of one model, latent space and distance, with stacked arrays.

    Attributes:
        results: the loaded files, in order.
        eigvals: (N, k) eigenvalues, descending per row (k: the smallest k in the set).
        eigvecs: (N, n, k) matching eigenvectors (columns).
        truncated: True when the files held different k and the set was cut to the common k.
        skipped: what was left out, how many of each: "failed" (points a batch manifest
            records as failed), "not computed" (points of a batch not computed yet).
    """

    results: tuple[MetricResult, ...]
    eigvals: np.ndarray
    eigvecs: np.ndarray
    truncated: bool
    skipped: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.results)

    @property
    def dim(self) -> int:
        return int(self.eigvecs.shape[1])

    @property
    def k(self) -> int:
        return int(self.eigvals.shape[1])

    @property
    def full(self) -> bool:
        """Every file holds its full metric H (not a top-k reconstruction)."""
        return all(r.H is not None for r in self.results)

    @property
    def meta(self) -> dict:
        """The metadata every file shares (model, latent space, distance, ...) of the first file."""
        return self.results[0].meta

    def metrics(self) -> np.ndarray:
        """(N, n, n) float64: each H, or its rank-k reconstruction ``U diag(lambda) U^T`` (top-k files)."""
        return np.stack([np.asarray(r.metric(), dtype=np.float64) for r in self.results])

    def describe(self) -> str:
        """One line: what the set is and whether H was reconstructed from top-k eigenpairs."""
        m = self.meta
        how = ("full H" if self.full else
               f"H reconstructed from the top {self.k} eigenpairs (top-k results) for some or all points")
        cut = f"; spectra cut to the common k={self.k}" if self.truncated else ""
        return (f"{len(self)} result(s): model {m.get('model')} [{m.get('latent_space')}, n={self.dim}], "
                f"distance {m.get('distance')}, method {m.get('method')}; {how}{cut}{self.skipped_words()}")

    def skipped_words(self) -> str:
        """``"; left out: 3 failed points (...), 2 not computed yet"``, or "" when nothing was left out."""
        words = {"failed": "failed point(s) (their image or metric was not finite: see the batch's manifest.json)",
                 "not computed": "point(s) of the batch not computed yet"}
        parts = [f"{n} {words[key]}" for key, n in self.skipped.items() if n]
        return "; left out: " + ", ".join(parts) if parts else ""


def result_paths(sources) -> list[Path]:
    """Expand directories and files into result file paths.

    A directory contributes its ``point_*.npz`` files (a batch directory) or, if it has
    none, every ``*.npz`` in it.

    Raises:
        InputError: nothing given, a path that does not exist, or a directory without .npz files.
    """
    if isinstance(sources, (str, Path)):
        sources = [sources]
    sources = [Path(s) for s in sources]
    if not sources:
        raise InputError("no result files or directories given", argument="sources")
    return _expand(sources)[0]


def _expand(sources) -> tuple[list[Path], dict]:
    """:func:`result_paths`, and the points of batch folders left out (see :attr:`ResultSet.skipped`)."""
    paths: list[Path] = []
    skipped = {"failed": 0, "not computed": 0}
    for src in sources:
        if src.is_dir():
            found = sorted(src.glob("point_*.npz")) or sorted(src.glob("*.npz"))
            failed, missing = _batch_gaps(src, {p.name for p in found})
            skipped["failed"] += failed
            skipped["not computed"] += missing
            if not found and failed:
                raise InputError(f"{src} holds no result files: its {failed} point(s) failed (their image or metric "
                                 f"was not finite; see its manifest.json)", argument="sources")
            if not found:
                raise InputError(f"{src} holds no result files (.npz): neither a batch folder nor a folder of results",
                                 argument="sources")
            paths += found
        elif src.is_file():
            paths.append(src)
        else:
            raise InputError(f"no such result file or directory: {src}", argument="sources")
    return paths, skipped


def _batch_gaps(folder: Path, present: set) -> tuple[int, int]:
    """(points the folder's manifest records as failed, points it has not computed), (0, 0) without a manifest."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        n_points = int(manifest["n_points"])
        failed = {int(p["index"]) for p in manifest.get("points", []) if p.get("status") == "failed"}
    except (OSError, ValueError, KeyError, TypeError):
        return 0, 0
    failed = {i for i in failed if f"point_{i:05d}.npz" not in present}  # computed since
    done = sum(1 for name in present if name.startswith("point_"))
    return len(failed), max(n_points - done - len(failed), 0)


def _load_point(path: Path) -> MetricResult:
    """``load_result``; a damaged point file of a batch folder says that ``batch`` recomputes it."""
    try:
        return load_result(path)
    except ResultFileError as exc:
        if getattr(exc, "damaged", False) and path.name.startswith("point_") and \
                (path.parent / MANIFEST).is_file():
            raise ResultFileError(f"{exc}; re-running the `ganmetric batch` command that made {path.parent} "
                                  f"recomputes it", argument="sources") from exc
        raise


def load_results(sources, *, min_count: int = 1) -> ResultSet:
    """Load result files from directories and/or files and check that they belong together.

    Args:
        sources: a directory, a file, or a list of them.
        min_count: fewest results the caller needs (e.g. 2 for pairwise statistics).

    Returns:
        ResultSet.

    Raises:
        InputError: empty input, fewer than ``min_count`` results, mixed models, latent
            spaces, distances or latent sizes.
        ResultFileError: a file that is not a readable ganmetric result.
    """
    if isinstance(sources, (str, Path)):
        sources = [sources]
    sources = [Path(s) for s in sources]
    if not sources:
        raise InputError("no result files or directories given", argument="sources")
    paths, skipped = _expand(sources)
    results = tuple(_load_point(p) for p in paths)
    if len(results) < min_count:
        left = "; ".join(f"{n} {key}" for key, n in skipped.items() if n)
        raise InputError(f"need at least {min_count} result files, got {len(results)}"
                         + (f" (left out: {left})" if left else ""), argument="sources")
    first = results[0]
    for r in results[1:]:
        if r.dim != first.dim:
            raise InputError(f"mismatched latent sizes: {first.path.name} has n={first.dim}, "
                             f"{r.path.name} has n={r.dim}", argument="sources")
        for key in CONSISTENT_KEYS:
            if r.meta.get(key) != first.meta.get(key):
                raise InputError(f"results mix {key}s: {first.path.name} has {first.meta.get(key)}, "
                                 f"{r.path.name} has {r.meta.get(key)}; analyse one {key} at a time",
                                 argument="sources")
        diffs = recorded_model_differences(first.meta, r.meta) + recorded_distance_differences(first.meta, r.meta)
        if diffs:  # the same model and distance names with other settings (a class, a random backbone's seed)
            named = "; ".join(d.replace(" there, ", f" in {first.path.name}, ").removesuffix(" here")
                              + f" in {r.path.name}" for d in diffs)
            raise InputError(f"results mix settings: {named}; analyse one setting at a time", argument="sources")
    k = min(len(r.eigvals) for r in results)
    truncated = any(len(r.eigvals) != k for r in results)
    vals = np.stack([as_numpy(r.eigvals[:k], dtype=np.float64) for r in results])
    vecs = np.stack([as_numpy(r.eigvecs[:, :k], dtype=np.float64) for r in results])
    if not np.all(np.diff(vals, axis=1) <= 1e-12 * np.abs(vals).max(axis=1, keepdims=True)):
        bad = next(r for r, v in zip(results, vals) if np.any(np.diff(v) > 1e-12 * np.abs(v).max()))
        raise ResultFileError(f"{bad.path}: eigenvalues are not in descending order", argument="sources")
    return ResultSet(results, vals, vecs, truncated, {key: n for key, n in skipped.items() if n})
