"""Compare two metrics on one latent space: eigenspaces, cross-Rayleigh quotients, spectra.

For metrics A and B of the same latent size n (eigenpairs (lambda_i(A), u_i(A)) and
(lambda_i(B), u_i(B)), descending), with k the size of the compared eigenspaces:

- principal angles between span{u_1(A) .. u_k(A)} and span{u_1(B) .. u_k(B)} (degrees,
  ascending; 0 means a shared direction, 90 an orthogonal one);
- ``vHv_AB[i] = u_i(A)^T H_B u_i(A)``: B's metric along A's eigenvectors, and ``vHv_BA``,
  over every rank both hold (K = min(k_A, k_B), all n for full results); the pair's
  homogeneity statistics, exactly as :func:`~ganmetric.analysis.homogeneity` computes them
  for points i = A, j = B: log-scale consistency ``corr_i(log10 vHv_AB[i], log10 lambda_i(B))``,
  linear-scale consistency ``corr_i(vHv_AB[i], lambda_i(B))``; and the ratio
  ``vHv_AB[i] / lambda_i(B)`` (1 when A's i-th eigenvector is also B's);
- ``corr(vec H_A, vec H_B)`` over the n^2 entries, of the full metrics when both files
  hold H, else of the rank-K reconstructions ``U_K diag(lambda_K) U_K^T`` (said in ``corr_vec_from``).

Identical metrics give angles 0, consistencies 1, ratios 1 and corr_vec 1. Typical uses:
MSE against LPIPS at one point, two methods at one point, two points of one model, and
two models that share a latent space (a warning says the models differ).
"""
from __future__ import annotations

import csv
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import checks
from ..errors import InputError
from ..result import load_result
from .homogeneity import masked_corr, vhv_matrix

#: meta keys shown for each side and checked for a model / latent-space mismatch
DESCRIBED = ("model", "latent_space", "distance", "method")


@dataclass(frozen=True)
class _Side:
    """One metric: a label, its eigenpairs (descending), H (or its reconstruction) and its metadata."""

    name: str
    eigvals: np.ndarray
    eigvecs: np.ndarray
    H: np.ndarray | None
    z: np.ndarray | None
    meta: dict

    @property
    def metric(self) -> np.ndarray:
        return self.H if self.H is not None else (self.eigvecs * self.eigvals) @ self.eigvecs.T

    def rank_k(self, k: int) -> np.ndarray:
        U = self.eigvecs[:, :k]
        return (U * self.eigvals[:k]) @ U.T


@dataclass(frozen=True)
class MetricComparison:
    """Two metrics compared (see the module docstring for every quantity).

    Attributes:
        names: labels of A and B (file names, or "A"/"B").
        dim: the latent size n.
        k: size of the compared eigenspaces (at most the eigenpairs both hold).
        k_requested: the k asked for.
        n_ranks: K, the ranks both hold: the length of the vHv and ratio arrays.
        eigvals_a, eigvals_b: every stored eigenvalue of A and of B, descending.
        angles_deg: (k,) principal angles between the top-k eigenspaces, ascending, in degrees.
        vhv_ab: (K,) ``u_i(A)^T H_B u_i(A)``.
        vhv_ba: (K,) ``u_i(B)^T H_A u_i(B)``.
        ratio_ab: (K,) ``vhv_ab / lambda_i(B)`` (NaN where lambda_i(B) = 0).
        ratio_ba: (K,) ``vhv_ba / lambda_i(A)`` (NaN where lambda_i(A) = 0).
        corr_log_ab, corr_linear_ab: A's eigenvectors under H_B against lambda(B), over the K
            ranks (NaN: undefined).
        corr_log_ba, corr_linear_ba: B's eigenvectors under H_A against lambda(A).
        corr_vec: ``corr(vec H_A, vec H_B)`` (NaN when one is constant).
        corr_vec_from: "full H", or "rank-K reconstructions" (from the K eigenpairs both hold) when
            a file holds only its top eigenpairs.
        full: whether A and B hold their full H.
        same_point: A and B were computed at the same latent point (codes equal to float32 precision).
        metas: the result files' metadata (model, latent space, distance, method, ...).
        warnings: one line each: the models or latent spaces differ.
    """

    names: tuple[str, str]
    dim: int
    k: int
    k_requested: int
    n_ranks: int
    eigvals_a: np.ndarray
    eigvals_b: np.ndarray
    angles_deg: np.ndarray
    vhv_ab: np.ndarray
    vhv_ba: np.ndarray
    ratio_ab: np.ndarray
    ratio_ba: np.ndarray
    corr_log_ab: float
    corr_linear_ab: float
    corr_log_ba: float
    corr_linear_ba: float
    corr_vec: float
    corr_vec_from: str
    full: tuple[bool, bool]
    same_point: bool
    metas: tuple[dict, dict]
    warnings: tuple[str, ...] = ()

    def table(self) -> list[dict]:
        """One row per rank i (1-based, all K): both eigenvalues, both cross quotients and their ratios."""
        return [{"rank": i + 1, "lambda_a": float(self.eigvals_a[i]), "lambda_b": float(self.eigvals_b[i]),
                 "vhv_ab": float(self.vhv_ab[i]), "ratio_ab": float(self.ratio_ab[i]),
                 "vhv_ba": float(self.vhv_ba[i]), "ratio_ba": float(self.ratio_ba[i])} for i in range(self.n_ranks)]

    def to_csv(self) -> str:
        """The per-rank table as CSV text (empty cells where a ratio is undefined)."""
        buf = io.StringIO()
        rows = self.table()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({key: ("" if isinstance(v, float) and not np.isfinite(v) else v) for key, v in r.items()}
                         for r in rows)
        return buf.getvalue()

    def report(self) -> str:
        """A readable text report: both files, the angles, the consistencies, corr_vec and the per-rank table."""
        fmt = lambda x: "     n/a" if not np.isfinite(x) else f"{x:8.4f}"
        lines = [self._describe(0), self._describe(1),
                 f"same point: {'yes' if self.same_point else 'no'}; compared top k = {self.k}"
                 + (f" (asked {self.k_requested}; a file holds fewer eigenpairs)" if self.k < self.k_requested else ""),
                 f"principal angles between the top-{self.k} eigenspaces (degrees, smallest first):",
                 "  " + "  ".join(f"{x:.2f}" for x in self.angles_deg),
                 f"consistency over all {self.n_ranks} ranks (as `homogeneity` computes it for the pair):",
                 f"{'':<26} {'eigvecs of A under H_B':>23} {'eigvecs of B under H_A':>23}",
                 f"{'log-scale consistency':<26} {fmt(self.corr_log_ab):>23} {fmt(self.corr_log_ba):>23}",
                 f"{'linear-scale consistency':<26} {fmt(self.corr_linear_ab):>23} {fmt(self.corr_linear_ba):>23}",
                 f"corr(vec H_A, vec H_B): {fmt(self.corr_vec).strip()} (from {self.corr_vec_from})", "",
                 f"{'rank':>4} {'lambda_A':>11} {'lambda_B':>11} {'uA.H_B.uA':>11} {'/lambda_B':>9} "
                 f"{'uB.H_A.uB':>11} {'/lambda_A':>9}"]
        for r in self.table()[:self.k]:
            lines.append(f"{r['rank']:>4} {r['lambda_a']:>11.4g} {r['lambda_b']:>11.4g} {r['vhv_ab']:>11.4g} "
                         f"{r['ratio_ab']:>9.3f} {r['vhv_ba']:>11.4g} {r['ratio_ba']:>9.3f}")
        if self.n_ranks > self.k:
            lines.append(f"(first {self.k} of {self.n_ranks} ranks; all of them in the CSV and JSON)")
        return "\n".join(lines)

    def _describe(self, side: int) -> str:
        m = self.metas[side]
        n = len(self.eigvals_a if side == 0 else self.eigvals_b)
        what = "full H" if self.full[side] else f"top {n} eigenpairs"
        return (f"{'AB'[side]}: {self.names[side]}: {m.get('model')} [{m.get('latent_space')}, n={self.dim}], "
                f"distance {m.get('distance')}, method {m.get('method')}, {what}")

    def summary(self) -> dict:
        """Everything as plain values (NaN where undefined; :func:`ganmetric.io.write_json` writes null)."""
        return {"a": {"name": self.names[0], "full": self.full[0],
                      **{key: self.metas[0].get(key) for key in DESCRIBED}},
                "b": {"name": self.names[1], "full": self.full[1],
                      **{key: self.metas[1].get(key) for key in DESCRIBED}},
                "k": self.k, "k_requested": self.k_requested, "n_ranks": self.n_ranks,
                "same_point": self.same_point,
                "principal_angles_deg": self.angles_deg.tolist(),
                "a_eigenvectors_under_b": {"log_consistency": self.corr_log_ab,
                                           "linear_consistency": self.corr_linear_ab},
                "b_eigenvectors_under_a": {"log_consistency": self.corr_log_ba,
                                           "linear_consistency": self.corr_linear_ba},
                "corr_vec": self.corr_vec, "corr_vec_from": self.corr_vec_from,
                "per_rank": self.table(), "warnings": list(self.warnings)}


def _side(x, default_name: str) -> _Side:
    """A result file path, a loaded result or a MetricResult, as float64 numpy arrays."""
    if isinstance(x, (str, Path)):
        x = load_result(x)
    try:
        vals, vecs = x.eigvals, x.eigvecs
    except AttributeError:
        raise InputError(f"expected a result file or a result, got {type(x).__name__}",
                         argument=default_name.lower()) from None
    as_np = lambda t: None if t is None else np.asarray(t.detach().cpu() if isinstance(t, torch.Tensor) else t,
                                                        dtype=np.float64)
    path = getattr(x, "path", None)
    if not all(np.isfinite(a).all() for a in (as_np(vals), as_np(vecs), as_np(getattr(x, "H", None))) if a is not None):
        raise InputError(f"{path or default_name} holds non-finite eigenvalues, eigenvectors or H: not a metric to "
                         f"compare", argument=default_name.lower())
    z = as_np(getattr(x, "z", None))
    return _Side(Path(path).name if path is not None else default_name, as_np(vals), as_np(vecs),
                 as_np(getattr(x, "H", None)), None if z is None else z.reshape(-1),
                 dict(getattr(x, "meta", None) or {}))


def principal_angles(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Principal angles (radians, ascending) between the column spans of A (n, p) and B (n, p).

    Small angles come from the sines (singular values of ``(I - Q_A Q_A^T) Q_B``), the others
    from the cosines (of ``Q_A^T Q_B``): arccos alone loses half the digits near 0.
    """
    Qa, Qb = np.linalg.qr(A)[0], np.linalg.qr(B)[0]
    M = Qa.T @ Qb
    cos = np.clip(np.linalg.svd(M, compute_uv=False), 0.0, 1.0)                  # descending
    sin = np.clip(np.sort(np.linalg.svd(Qb - Qa @ M, compute_uv=False)), 0.0, 1.0)  # ascending
    return np.where(cos > np.sqrt(0.5), np.arcsin(sin), np.arccos(cos))


def _cross_quotients(a: _Side, b: _Side, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(vhv_ab, vhv_ba), each (k,), by the homogeneity kernel on the pair."""
    U = torch.from_numpy(np.stack([a.eigvecs[:, :k], b.eigvecs[:, :k]]))           # (2, n, k)
    H = torch.from_numpy(np.stack([a.metric, b.metric]))
    vhv = vhv_matrix(U, (H + H.transpose(1, 2)) / 2)                                # (2, 2, k)
    return vhv[0, 1].numpy(), vhv[1, 0].numpy()


def _consistency(vhv: np.ndarray, lam: np.ndarray) -> tuple[float, float]:
    """(log-scale, linear-scale) correlation of ``vhv`` with ``lam`` (positive ranks only on the log scale)."""
    x, y = torch.from_numpy(vhv), torch.from_numpy(lam)
    pos = (x > 0) & (y > 0)
    log = masked_corr(torch.log10(x.clamp_min(1e-300)), torch.log10(y.clamp_min(1e-300)), pos)
    lin = masked_corr(x, y, torch.ones_like(pos))
    return float(log), float(lin)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, num / np.where(den != 0, den, 1.0), np.nan)


def _corr_vec(a: _Side, b: _Side, k: int) -> tuple[float, str]:
    if a.H is not None and b.H is not None:
        Ha, Hb, how = a.H, b.H, "full H"
    else:
        Ha, Hb, how = a.rank_k(k), b.rank_k(k), f"rank-{k} reconstructions"
    x, y = Ha.ravel() - Ha.mean(), Hb.ravel() - Hb.mean()
    den = np.linalg.norm(x) * np.linalg.norm(y)
    return (float(x @ y / den) if den > 0 else float("nan")), how


def _mismatch_warnings(a: _Side, b: _Side) -> tuple[str, ...]:
    keys = [key for key in ("model", "latent_space") if a.meta.get(key) != b.meta.get(key)]
    if not keys:
        return ()
    show = lambda s: f"{s.meta.get('model')} [{s.meta.get('latent_space')}]"
    return (f"{a.name} and {b.name} come from different models or latent spaces ({show(a)} and {show(b)}): "
            f"their directions are compared coordinate by coordinate",)


def _checked_ranks(a: _Side, b: _Side, k: int) -> tuple[int, int]:
    """(k cut to the eigenpairs both hold, K = the eigenpairs both hold)."""
    n_a, n_b = a.eigvecs.shape[0], b.eigvecs.shape[0]
    if n_a != n_b:
        raise InputError(f"cannot compare metrics of different latent sizes: {a.name} has n={n_a}, "
                         f"{b.name} has n={n_b}", argument="b")
    checks.positive_int("k", k)
    K = min(len(a.eigvals), len(b.eigvals))
    return min(k, K), K


def compare_metrics(a, b, k: int = 10) -> MetricComparison:
    """Compare two metrics of the same latent size (see the module docstring).

    Args:
        a, b: result files (paths), loaded results (:func:`ganmetric.load_result`) or
            :class:`~ganmetric.MetricResult` objects.
        k: size of the compared top eigenspaces; cut to the eigenpairs both hold.

    Returns:
        MetricComparison. When the models or latent spaces differ it also warns (UserWarning)
        and lists the warning in ``.warnings``: comparing two models that share a latent
        space is allowed.

    Raises:
        InputError: different latent sizes, k not a positive integer, or not a result.
        ResultFileError: a path that is not a readable result file.
    """
    A, B = _side(a, "A"), _side(b, "B")
    kk, K = _checked_ranks(A, B, k)
    vhv_ab, vhv_ba = _cross_quotients(A, B, K)
    log_ab, lin_ab = _consistency(vhv_ab, B.eigvals[:K])
    log_ba, lin_ba = _consistency(vhv_ba, A.eigvals[:K])
    corr_vec, how = _corr_vec(A, B, K)
    notes = _mismatch_warnings(A, B)
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    same = A.z is not None and B.z is not None and A.z.shape == B.z.shape and \
        bool(np.allclose(A.z, B.z, rtol=1e-6, atol=1e-6))  # float32 and float64 files of one code agree to 1e-7
    return MetricComparison(
        names=(A.name, B.name), dim=int(A.eigvecs.shape[0]), k=kk, k_requested=k, n_ranks=K,
        eigvals_a=A.eigvals, eigvals_b=B.eigvals,
        angles_deg=np.degrees(principal_angles(A.eigvecs[:, :kk], B.eigvecs[:, :kk])),
        vhv_ab=vhv_ab, vhv_ba=vhv_ba, ratio_ab=_ratio(vhv_ab, B.eigvals[:K]),
        ratio_ba=_ratio(vhv_ba, A.eigvals[:K]), corr_log_ab=log_ab, corr_linear_ab=lin_ab, corr_log_ba=log_ba,
        corr_linear_ba=lin_ba, corr_vec=corr_vec, corr_vec_from=how, full=(A.H is not None, B.H is not None),
        same_point=same, metas=(A.meta, B.meta), warnings=notes)
