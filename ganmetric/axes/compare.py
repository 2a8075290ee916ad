"""How discovery-method directions (GANSpace, SeFa, a user's file) align with the metric.

For a metric H (n x n) and each unit direction v: the Rayleigh ratio ``v^T H v / lambda_max``
(1: as sensitive as the top eigenvector; a random direction expects
``trace(H) / (n lambda_max)``) and the fraction of its energy ``|U_k^T v|^2`` in the top-k
eigenspace (random: k / n). Per method, separately: the principal angles between the span
of its first k directions and the top-k eigenspace. The j-th principal angle belongs to
the pair of subspaces, not to direction j, so it gets its own table.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import checks
from ..errors import InputError
from ..io import sha256_file, versions
from ..linalg import eigh_descending
from ..placement import as_numpy
from .directions import Directions, _unit_rows
from .ganspace import ganspace_directions
from .sefa import sefa_directions

DISCOVERY_METHODS = {"ganspace": "GANSpace: PCA of a layer's activations over codes sampled from the prior",
                     "sefa": "SeFa on the code-facing weights, columns normalised (the authors' variant)",
                     "sefa-unnormalised": "SeFa on the raw weights (for comparison)"}
"""Direction-discovery methods computed from the model, to set against the metric (``ganmetric axes compare``)."""
#: SeFa's variant of each SeFa method
_SEFA_VARIANTS = {"sefa": "authors", "sefa-unnormalised": "unnormalised"}


@dataclass(frozen=True)
class Comparison:
    """How directions align with a metric's eigenbasis.

    Attributes:
        rows: one dict per direction: method, index, rayleigh_ratio, topk_energy.
        angles: method -> principal angles in degrees (ascending) between the span of its
            first min(k, m) directions and the top-k eigenspace.
        k: the size of the top eigenspace.
        lambda_max: the metric's largest eigenvalue.
        random_rayleigh: ``trace(H) / (n lambda_max)``, a random direction's expected ratio.
        random_energy: ``k / n``.
        methods: method -> how its directions were made (the directions' ``info``: SeFa's
            variant and layers, GANSpace's layer, samples and seed, a file's path, ...).
        source: the metric's provenance when it is a result (path, model, latent space,
            distance, kind, point); empty for a bare matrix.
    """

    rows: list
    angles: dict
    k: int
    lambda_max: float
    random_rayleigh: float
    random_energy: float
    methods: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)

    COLUMNS = ("method", "index", "rayleigh_ratio", "topk_energy")
    ANGLE_COLUMNS = ("method", "directions", "rank", "angle_deg")

    def table(self) -> str:
        """Two plain-text tables for the terminal: per direction, then the principal angles per method."""
        width = max([10] + [len(r["method"]) for r in self.rows])
        lines = [f"{'method':<{width}} {'i':>3} {'vHv/lmax':>9} {f'top-{self.k} energy':>14}"]
        for r in self.rows:
            lines.append(f"{r['method']:<{width}} {r['index']:>3} {r['rayleigh_ratio']:>9.4f} "
                         f"{r['topk_energy']:>14.4f}")
        lines.append(f"{'random':<{width}} {'':>3} {self.random_rayleigh:>9.4f} {self.random_energy:>14.4f}"
                     "   (expected for a random direction)")
        lines += ["", "principal angles (degrees, smallest first) between the span of each method's first 'dirs' "
                      f"directions and the top-{self.k} metric eigenspace:"]
        most = max((len(a) for a in self.angles.values()), default=0)
        lines.append(f"{'method':<{width}} {'dirs':>4} " + " ".join(f"{f'th{j + 1}':>5}" for j in range(most)))
        for method, angles in self.angles.items():
            lines.append(f"{method:<{width}} {len(angles):>4} " + " ".join(f"{a:>5.1f}" for a in angles))
        return "\n".join(lines)

    def to_csv(self) -> str:
        """The per-direction rows and the random-direction baseline as CSV text."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.COLUMNS, lineterminator="\n")
        writer.writeheader()
        for r in self.rows:
            writer.writerow(r)
        writer.writerow({"method": "random-expected", "index": "", "rayleigh_ratio": self.random_rayleigh,
                         "topk_energy": self.random_energy})
        return buf.getvalue()

    def summary(self) -> dict:
        """What the comparison was made from and its baselines, for a JSON file next to the CSVs."""
        return {"metric": self.source, "k": self.k, "lambda_max": self.lambda_max,
                "random_rayleigh": self.random_rayleigh, "random_energy": self.random_energy,
                "methods": self.methods, "principal_angles_deg": {m: a.tolist() for m, a in self.angles.items()},
                "versions": versions()}

    def angles_to_csv(self) -> str:
        """The principal angles as CSV text: method, directions (how many spanned), rank (1 = smallest), angle_deg."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.ANGLE_COLUMNS)
        for method, angles in self.angles.items():
            for j, a in enumerate(angles):
                writer.writerow([method, len(angles), j + 1, float(a)])
        return buf.getvalue()


def principal_angles(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Principal angles between the column spans of two matrices.

    Args:
        A: (n, p) columns spanning the first subspace.
        B: (n, q) columns spanning the second.

    Returns:
        (min(p, q),) the angles in radians, ascending (0: a shared direction).
    """
    Qa = np.linalg.qr(A)[0]
    Qb = np.linalg.qr(B)[0]
    cos = np.linalg.svd(Qa.T @ Qb, compute_uv=False)
    return np.arccos(np.clip(cos, -1.0, 1.0))


def _eigenpairs(metric) -> int:
    """How many eigenpairs a result holds (n for a full one), or a matrix's size."""
    if hasattr(metric, "metric") and hasattr(metric, "eigvals"):
        return int(metric.eigvals.shape[0])
    return int(np.shape(metric)[0]) if np.ndim(metric) else 1


def _metric_matrix(metric, k: int) -> np.ndarray:
    """H (n, n) symmetrised, from an array or a result (top-k results: only their k eigenpairs make sense).

    Raises:
        InputError: not a finite square matrix; k beyond a top-k result's eigenpairs or beyond n.
    """
    if hasattr(metric, "metric") and hasattr(metric, "eigvals"):
        stored = int(metric.eigvals.shape[0])
        if not getattr(metric, "full", True) and isinstance(k, int) and k > stored:
            raise InputError(f"k must be at most {stored}: the result holds only the top {stored} eigenpairs, "
                             f"got {k}", argument="k")
        metric = metric.metric()
    H = as_numpy(metric, dtype=np.float64)  # a matrix may be a tensor on a GPU
    if H.ndim != 2 or H.shape[0] != H.shape[1] or not np.isfinite(H).all():
        raise InputError(f"the metric must be a finite square matrix, got shape {H.shape}", argument="metric")
    checks.positive_int("k", k, maximum=H.shape[0])
    return 0.5 * (H + H.T)


def _source(metric) -> dict:
    """A result's provenance (path and the meta that says what it is a metric of); {} for a matrix."""
    meta = getattr(metric, "meta", None)
    if not isinstance(meta, dict):
        return {}
    path = getattr(metric, "path", None)
    keys = ("model", "latent_space", "distance", "kind", "method", "seed", "index")
    digest = sha256_file(path) if path is not None and Path(path).is_file() else None
    return {"path": None if path is None else str(path), "sha256": digest,
            **{key: meta[key] for key in keys if key in meta}}


def compare_directions(metric, directions, *, k: int | None = None) -> Comparison:
    """Align each method's directions with the metric.

    Args:
        metric: (n, n) symmetric metric H, or a loaded result (its ``metric()``: H, or the
            rank-k reconstruction of a top-k result, for which ``k`` may not exceed its k).
        directions: a list of :class:`~ganmetric.axes.Directions` (or a dict name -> (m, n) rows);
            rows are normalised.
        k: size of the top eigenspace; None: 10, or the number of eigenpairs when fewer (an n < 10 metric,
            a top-k result with k < 10).

    Returns:
        :class:`Comparison`.

    Raises:
        InputError: H not square/finite, k out of range, directions of the wrong size,
            non-finite or zero rows, two sets with the same name, or a non-positive largest
            eigenvalue.
    """
    if k is None:
        k = min(10, _eigenpairs(metric))
    H = _metric_matrix(metric, k)
    n = H.shape[0]
    vals, vecs = eigh_descending(H)
    lam = float(vals[0])
    if not lam > 0:
        raise InputError("the metric's largest eigenvalue is not positive", argument="metric")
    Uk = vecs[:, :k]
    if isinstance(directions, dict):
        directions = [Directions(np.asarray(v, dtype=np.float64), np.zeros(len(v)), name)
                      for name, v in directions.items()]
    rows, angles, methods = [], {}, {}
    for d in directions:
        if d.method in angles:
            raise InputError(f"two sets of directions are both called {d.method}: give them different names",
                             argument="directions")
        V, _ = _unit_rows(d.vectors, n, f"{d.method} directions", argument="directions")
        ray = np.einsum("mi,ij,mj->m", V, H, V) / lam
        energy = ((V @ Uk) ** 2).sum(1)
        angles[d.method] = np.degrees(principal_angles(V[:k].T, Uk))
        methods[d.method] = {"directions": int(len(V)), **dict(d.info)}
        rows += [{"method": d.method, "index": j, "rayleigh_ratio": float(ray[j]), "topk_energy": float(energy[j])}
                 for j in range(len(V))]
    return Comparison(rows, angles, k, lam, float(np.trace(H) / (n * lam)), k / n, methods, _source(metric))


def discovery_methods(methods, *, sefa_layers=None) -> list[str]:
    """The discovery methods asked for, checked before anything is computed.

    Args:
        methods: names of :data:`DISCOVERY_METHODS`, as a list or comma-separated
            (``"ganspace,sefa"``); ``"none"`` (alone) or nothing: none.
        sefa_layers: the SeFa layers that will be asked for (they need a SeFa method).

    Returns:
        The names, in the order given, each once.

    Raises:
        InputError: an unknown name, ``none`` with others, or ``sefa_layers`` without a SeFa method.
    """
    names = [m.strip() for m in (methods.split(",") if isinstance(methods, str) else methods) if m.strip()]
    if names == ["none"]:
        names = []
    for name in names:
        checks.one_of("methods", name, DISCOVERY_METHODS, what="method")
    if sefa_layers is not None and not any(name in _SEFA_VARIANTS for name in names):
        raise InputError("sefa_layers needs sefa or sefa-unnormalised in {methods}", argument="sefa_layers",
                         mentions=("methods",))
    return list(dict.fromkeys(names))


def discovered_directions(G, methods, *, n_directions: int | None = None, sefa_layers=None, n_samples: int = 5000,
                          seed: int = 0, layer: str | None = None, progress: bool = False) -> list[Directions]:
    """The directions of each discovery method, in the order of :data:`DISCOVERY_METHODS`.

    Args:
        G: the generator.
        methods: see :func:`discovery_methods`.
        n_directions: directions per method (each method's ``k``); None: 10, or the latent size when smaller.
        sefa_layers: SeFa's ``layers`` (StyleGAN2 only; None: the authors' default).
        n_samples, seed, layer: GANSpace's (see :func:`~ganmetric.axes.ganspace_directions`).
        progress: show GANSpace's progress bar.

    Returns:
        A list of :class:`~ganmetric.axes.Directions`, ready for :func:`compare_directions`.

    Raises:
        InputError: a bad method name or option, or a model a method does not apply to.
    """
    wanted = discovery_methods(methods, sefa_layers=sefa_layers)
    if n_directions is None:
        n_directions = min(10, int(G.latent_dim))
    dirs = []
    try:
        if "ganspace" in wanted:
            dirs.append(ganspace_directions(G, k=n_directions, n_samples=n_samples, seed=seed, layer=layer,
                                            progress=progress))
        for method, variant in _SEFA_VARIANTS.items():
            if method in wanted:
                dirs.append(sefa_directions(G, k=n_directions, layers=sefa_layers, variant=variant))
    except InputError as exc:  # the methods' k and SeFa's layers are this function's n_directions and sefa_layers
        outer = {"k": "n_directions", "layers": "sefa_layers"}.get(exc.argument)
        if outer is None:
            raise
        message = str(exc)
        if message.startswith(f"{exc.argument} "):  # the subject, where the message names one
            message = outer + message[len(exc.argument):]
        raise InputError(message, argument=outer) from exc
    return dirs
