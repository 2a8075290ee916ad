"""Compression onto the top eigenspace: how much of a code can be dropped before the image changes?

For codes z (the model's prior) and an orthonormal basis U of latent directions (a metric's
eigenvectors, an axis file, any direction set), the projection onto the first k directions

    z_k = z0 + U_k U_k^T (z - z0)

keeps ``|U_k^T (z - z0)|^2 / |z - z0|^2`` of the code (``kept_fraction``) and changes the
image by ``d(G(z), G(z_k))``. ``z0`` is 0 (the mean of a zero-mean prior) or, with
``center="point"``, the point the metric was computed at. The same is done for
``random_bases`` random orthonormal bases (Haar, seeded; the first k columns of each), so the
eigenbasis is compared with subspaces of the same sizes. Fill ``"norm"`` rescales the
projected part to the code's own length, ``z_k = z0 + P |z - z0| / |P|`` with
``P = U_k U_k^T (z - z0)`` (a Gaussian code's norm carries information for many GANs; at
k = 0, P = 0 and z_k = z0 under both fills).

Directions that are not orthonormal (GANSpace's regressed directions) are orthonormalised
in order (QR), which keeps the span of every leading k of them.
"""
from __future__ import annotations

import contextlib
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import checks
from ..basis import BasisSource, basis_source, resolve_basis
from ..distances.spec import distance_meta
from ..errors import InputError
from ..generators.spec import model_meta
from ..io import jsonable, versions
from ..placement import check_same_dtype, cpu_float64, placement
from ..precision import exact_float32
from ..staging import staged_dir

FILLS = ("none", "norm")
EIGEN, RANDOM = "eigen", "random"
#: the summary's fractions of the k = 0 distance
TARGETS = (0.1, 0.01)
COLUMNS = ("k", "basis", "fill", "mean", "std", "median", "kept_fraction")
#: tolerance on |U^T U - I| below which a basis counts as orthonormal (stored float32 axes reach ~1e-7)
ORTHONORMAL_TOL = 1e-5
#: every file name :meth:`Compression.save` may write (a folder holding only these is an earlier run's)
OUTPUT_PATTERNS = ("curve.csv", "curve.png", "montage.png", "summary.json", "codes_k*.npy")


@dataclass(frozen=True)
class Compression:
    """What :func:`compress` measured.

    Attributes:
        rows: one dict per (k, basis, fill) with :data:`COLUMNS`. ``basis`` is :attr:`label`
            (the given basis), "random-i" (random basis i) or "random" (all random bases
            pooled: statistics over every sample and basis).
        label: the given basis' name in the rows: "eigen" (a metric's eigenvectors: a result
            or axis file, a MetricResult, Axes), a direction set's method ("sefa", "ganspace",
            a file's stem) or "given" (a matrix).
        ks: the k values (0 first: the reference distance ``d(G(z), G(z0))``).
        listed: the k values the caller listed (montage columns and codes files).
        fills: the fills computed.
        distances: (basis, fill) -> (len(ks), N) distances per k and sample.
        codes: k -> (N, n) projected codes for the given basis and the first fill.
        images: (rows, len(listed) + 1, C, H, W) montage images (the listed k, then the original), or None.
        summary: the smallest listed k whose mean distance falls below 10% and 1% of the k = 0
            distance, per basis and fill.
        meta: provenance (model, distance, basis, codes, options, versions; ``interrupted``
            and, then, ``n_samples`` the samples measured of ``n_samples_requested``).
    """

    rows: list
    label: str
    ks: tuple
    listed: tuple
    fills: tuple
    distances: dict
    codes: dict
    images: np.ndarray | None
    summary: dict
    meta: dict = field(default_factory=dict)

    def threshold_lines(self) -> list[str]:
        """One sentence per basis (the pooled random bases included, not each one) and fill: from
        which listed k the mean distance falls below 10% and 1% of the k = 0 distance."""
        def shown(k):
            return "not reached at the listed k" if k is None else f"from k = {k}"
        return [f"{basis}, fill {fill}: mean distance below 10% of the k = 0 distance "
                f"{shown(ks['k_below_10pct'])}; below 1% {shown(ks['k_below_1pct'])}"
                for basis, by_fill in self.summary["smallest_k"].items() if not basis.startswith(f"{RANDOM}-")
                for fill, ks in by_fill.items()]

    def to_csv(self) -> str:
        """The curve as CSV text (k, basis, fill, mean, std, median, kept_fraction)."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return buf.getvalue()

    def save(self, out_dir, *, overwrite: bool = False) -> list[Path]:
        """Write curve.csv, curve.png, montage.png, summary.json and codes_k{K}.npy into ``out_dir``, whole.

        The set goes through :func:`ganmetric.staging.staged_dir`: ``out_dir`` holds the
        previous complete set or this one, never a mix.

        Returns:
            The files, as paths in ``out_dir``.

        Raises:
            InputError: ``out_dir`` holds other files, or an earlier run's and ``overwrite`` is not set.
            FolderLockedError: another run is writing it. OutputError: a file cannot be written.
        """
        with staged_dir(out_dir, outputs=OUTPUT_PATTERNS, overwrite=overwrite, what="compress") as stage:
            names = [p.name for p in self._write(Path(stage))]
        return [Path(out_dir) / name for name in names]

    def _write(self, out: Path) -> list[Path]:
        from ..io import atomic_write_bytes, npy_bytes, write_json
        from .compress_plots import plot_compression_curve, plot_compression_montage
        paths = [out / "curve.csv", out / "curve.png", out / "montage.png", out / "summary.json"]
        atomic_write_bytes(paths[0], self.to_csv().encode())
        plot_compression_curve(self, paths[1])
        if self.images is not None:
            plot_compression_montage(self, paths[2])
        else:
            paths.remove(paths[2])
        write_json(paths[-1], jsonable({**self.meta, "summary": self.summary, "versions": versions()}))
        for k in self.listed:
            paths.append(atomic_write_bytes(out / f"codes_k{k}.npy", npy_bytes(self.codes[k])))
        return paths


def check_ks(ks, n: int, size: int) -> tuple[int, ...]:
    """``ks`` as a tuple of distinct integers in [0, n], ascending, none above the basis' ``size`` directions.

    Raises:
        InputError: empty, not integers, out of range, unsorted or repeated, or above ``size``.
    """
    ks = list(ks) if not isinstance(ks, (int, np.integer)) else [ks]
    if not ks:
        raise InputError("ks must list at least one k", argument="ks")
    ks = [checks.integer("ks", k, minimum=0, maximum=n) for k in ks]
    if any(b <= a for a, b in zip(ks, ks[1:])):
        raise InputError(f"ks must be distinct and ascending, got {','.join(map(str, ks))}", argument="ks")
    if ks[-1] > size:
        raise InputError(f"ks goes up to {ks[-1]} but the basis holds {size} directions: list k up to {size} or "
                         f"use a basis with more directions", argument="ks")
    return tuple(ks)


def _check_fills(fills) -> tuple[str, ...]:
    fills = (fills,) if isinstance(fills, str) else tuple(fills)
    if not fills or len(set(fills)) != len(fills):
        raise InputError(f"fills must name each of {', '.join(FILLS)} at most once, got {', '.join(fills) or 'none'}",
                         argument="fills")
    for f in fills:
        checks.one_of("fills", f, FILLS, what="fill")
    return fills


def orthonormal_columns(B: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """Orthonormalise the columns in order (QR, signs kept); returns (U, whether B was orthonormal already)."""
    B = B.to(torch.float64)
    gram = B.T @ B
    already = bool((gram - torch.eye(B.shape[1], dtype=B.dtype, device=B.device)).abs().max() <= ORTHONORMAL_TOL)
    Q, R = torch.linalg.qr(B)
    signs = torch.sign(torch.diagonal(R))
    signs[signs == 0] = 1
    return Q * signs, already


def haar_bases(n: int, count: int, seed: int) -> list[torch.Tensor]:
    """``count`` Haar-random orthonormal (n, n) bases, basis i from the seed sequence (seed, i).

    The k-dimensional subspace of basis i is the span of its first k columns.
    """
    out = []
    for i in range(count):
        rng = np.random.default_rng([int(seed), i, 0xC0])  # its own stream: not the codes' draws
        Q, R = np.linalg.qr(rng.standard_normal((n, n)))
        out.append(torch.from_numpy(Q * np.sign(np.diag(R))))
    return out


def _basis_label(basis, src: BasisSource) -> str:
    """The given basis' name in the table (see :attr:`Compression.label`)."""
    if src.label is not None:  # a direction set
        return "given" if src.label.startswith(RANDOM) or not src.label else src.label
    return "given" if isinstance(basis, (torch.Tensor, np.ndarray)) else EIGEN


def _center(center, src: BasisSource, n: int) -> tuple[torch.Tensor, str]:
    """z0 (n,) float64 on the CPU (where the projections are computed) and how it was chosen."""
    if center is None:
        return torch.zeros(n, dtype=torch.float64, device="cpu"), "zero"
    if isinstance(center, str):
        if center != "point":
            raise InputError(f"center must be None, 'point' or a code of size {n}, got {center}", argument="center")
        if src.points is None:
            raise InputError("center needs the point a metric was computed at, and this basis has none: use a "
                             "result file, an axis file or a MetricResult as the basis", argument="center")
        return cpu_float64(src.points).reshape(-1, n)[0], "the metric's point"  # an average's: its mean code
    return cpu_float64(checks.latent_codes("center", center, n)[0]), "given"  # a code on any device


def _projections(Y: torch.Tensor, U: torch.Tensor, ks, fill: str) -> list[torch.Tensor]:
    """The projected offsets P_k (or their norm-filled versions) for each k, for offsets Y (m, n)."""
    coeffs = Y @ U
    out = []
    for k in ks:
        P = coeffs[:, :k] @ U[:, :k].T
        if fill == "norm" and k > 0:
            norm = P.norm(dim=1, keepdim=True)
            P = torch.where(norm > 0, P * Y.norm(dim=1, keepdim=True) / norm.clamp_min(1e-300), P)
        out.append(P)
    return out


def _kept(Y: torch.Tensor, U: torch.Tensor, ks) -> np.ndarray:
    """(len(ks), m) fraction of |y|^2 in the span of the first k columns (1 where y = 0)."""
    c2 = (Y @ U) ** 2
    total = (Y ** 2).sum(1)
    cum = torch.cat([torch.zeros(Y.shape[0], 1, dtype=Y.dtype, device=Y.device), c2.cumsum(1)], dim=1)
    return torch.stack([torch.where(total > 0, cum[:, k] / total.clamp_min(1e-300), 1.0) for k in ks]).numpy()


@torch.no_grad()
def _measure(G, D, Z: torch.Tensor, z0: torch.Tensor, bases: dict, ks, fills, chunk: int, progress: bool,
             stop=None) -> dict:
    """(basis, fill) -> (len(ks), N') distances d(G(z), G(z_k)), computed chunk by chunk of samples.

    ``stop()`` is asked after each chunk: when it returns True, N' is the samples measured so far.
    """
    from .._progress import progress_bar
    place = placement(G)
    out = {(b, f): np.empty((len(ks), Z.shape[0])) for b in bases for f in fills}
    for s in progress_bar(range(0, Z.shape[0], chunk), enable=progress, desc="compress", unit="chunk"):
        if s > 0 and stop is not None and stop():
            return {key: d[:, :s] for key, d in out.items()}
        Zc = Z[s:s + chunk]
        ref = D.inputs(G, Zc.to(**place))  # the originals once per chunk
        Y = Zc - z0
        at_z0 = D(ref, D.inputs(G, z0[None].to(**place))).detach().cpu().double().numpy()
        for (b, U) in bases.items():
            for f in fills:
                for j, P in enumerate(_projections(Y, U, ks, f)):
                    if ks[j] == 0:  # z_k = z0 for every basis and fill: measured once
                        out[b, f][j, s:s + chunk] = at_z0
                        continue
                    y = D.inputs(G, (z0 + P).to(**place))
                    out[b, f][j, s:s + chunk] = D(ref, y).detach().cpu().double().numpy()
    return out


def _stats(name: str, k: int, fill: str, d: np.ndarray, kept: np.ndarray) -> dict:
    return {"k": k, "basis": name, "fill": fill, "mean": float(d.mean()), "std": float(d.std()),
            "median": float(np.median(d)), "kept_fraction": float(kept.mean())}


def _rows(ks, fills, dist: dict, kept: dict, n_random: int, label: str) -> list[dict]:
    rows = []
    randoms = [f"{RANDOM}-{i + 1}" for i in range(n_random)]
    for j, k in enumerate(ks):
        for f in fills:
            rows.append(_stats(label, k, f, dist[label, f][j], kept[label][j]))
            if randoms:
                rows.append(_stats(RANDOM, k, f, np.concatenate([dist[r, f][j] for r in randoms]),
                                   np.concatenate([kept[r][j] for r in randoms])))
            rows += [_stats(r, k, f, dist[r, f][j], kept[r][j]) for r in randoms]
    return rows


def _smallest_k(rows, basis: str, fill: str, listed, d0: float) -> dict:
    """The smallest listed k whose mean distance is at most each target fraction of d0 (None: none is)."""
    means = {r["k"]: r["mean"] for r in rows if r["basis"] == basis and r["fill"] == fill}
    return {f"k_below_{int(t * 100)}pct": next((k for k in listed if means[k] <= t * d0), None) for t in TARGETS}


def _summary(rows, listed, fills, n_random: int, label: str) -> dict:
    d0 = next(r["mean"] for r in rows if r["k"] == 0 and r["basis"] == label)
    names = [label] + ([RANDOM] if n_random else []) + [f"{RANDOM}-{i + 1}" for i in range(n_random)]
    return {"k0_mean_distance": d0, "targets": list(TARGETS),
            "smallest_k": {b: {f: _smallest_k(rows, b, f, listed, d0) for f in fills} for b in names}}


def _montage_images(G, Z, z0, U, listed, fill: str, count: int):
    """(count, len(listed) + 1, C, H, W) images: each listed k's projection (given basis), then the original."""
    if count == 0:
        return None
    Zm = Z[:count]
    P = _projections(Zm - z0, U, listed, fill)
    codes = torch.stack([z0 + p for p in P] + [Zm], dim=1)                  # (count, cols, n)
    with torch.no_grad():
        images = G(codes.reshape(-1, codes.shape[-1]).to(**placement(G)))
    return images.detach().cpu().double().reshape(count, codes.shape[1], *images.shape[1:]).numpy()


@exact_float32
def compress(G, D, basis, codes, ks, *, center=None, fills=FILLS, random_bases: int = 5, seed: int = 0,
             chunk: int = 64, montage_samples: int = 4, codes_seed: int | None = None, out_dir=None,
             overwrite: bool = False, progress: bool = False, stop=None) -> Compression:
    """Project codes onto the first k basis directions and measure the image change, against random bases.

    Args:
        G: the generator.
        D: the distance measuring the change (an image distance, or a layer
            distance of G).
        basis: the directions: a result or axis file (path), a MetricResult, Axes,
            :class:`~ganmetric.axes.Directions` or an (n, m) matrix of columns (see
            :func:`ganmetric.basis.resolve_basis`; a file's model is checked against G).
        codes: (N, n) latent codes (e.g. ``G.sample(200, seed)``).
        ks: ascending distinct k in [0, n], at most the basis' directions.
        center: None (z0 = 0), "point" (the point the basis' metric was computed at) or a code (n,).
        fills: among "none" and "norm".
        random_bases: random orthonormal bases to compare with (0: none).
        seed: their seed (each basis has its own stream, independent of the codes').
        chunk: samples per pass (bounds memory).
        montage_samples: samples in the montage (0: no montage).
        codes_seed: the seed the codes were drawn with (recorded only).
        out_dir: if given, the folder :meth:`Compression.save` writes into (whole), checked
            after every argument is validated and locked before the measurement.
        overwrite: replace an earlier run's files in ``out_dir``.
        progress: show a progress bar.
        stop: asked after each chunk of samples; when it returns True the measurement ends
            there and the result (and its files) covers the samples measured so far, with
            ``meta["interrupted"]`` True (the CLI sets it from Ctrl-C).

    Returns:
        Compression.

    Raises:
        InputError: a basis for another model or latent size, bad ks, fills, codes or counts,
            a center without a point, a distance of another dtype, or an ``out_dir`` that is
            a file, holds other files, or an earlier run's without ``overwrite`` (nothing is
            written then).
        FolderLockedError: another run is writing ``out_dir``.
        OutputError: a file cannot be written (``out_dir`` is then as it was).
    """
    n = int(G.latent_dim)
    check_same_dtype(G, D)
    src = basis_source(basis)  # a file is read once
    label = _basis_label(basis, src)
    B, info = resolve_basis(src, G, device="cpu", dtype=torch.float64)
    if label not in (EIGEN, "given"):
        info["directions"] = jsonable(src.info or {})  # how they were made: SeFa's variant and layers, GANSpace's
    U, was_orthonormal = orthonormal_columns(B)
    listed = check_ks(ks, n, U.shape[1])
    fills = _check_fills(fills)
    n_random = checks.integer("random_bases", random_bases, minimum=0)
    seed = checks.seed("seed", seed)
    chunk = checks.positive_int("chunk", chunk)
    montage_samples = checks.integer("montage_samples", montage_samples, minimum=0)
    Z = checks.latent_codes("codes", codes, n).detach().cpu().to(torch.float64)
    z0, how = _center(center, src, n)
    with (staged_dir(out_dir, outputs=OUTPUT_PATTERNS, overwrite=overwrite, what="compress")
          if out_dir is not None else contextlib.nullcontext()) as stage:
        result = _compress(G, D, label, U, listed, fills, n_random, seed, chunk, montage_samples, Z, z0, progress,
                           stop, meta={**model_meta(G), **distance_meta(D), "basis": info,
                                       "basis_orthonormalised": not was_orthonormal, "codes_seed": codes_seed,
                                       "center": how, "z0": None if center is None else z0.numpy()})
        if stage is not None:
            result.save(stage)
    return result


def _compress(G, D, label, U, listed, fills, n_random, seed, chunk, montage_samples, Z, z0, progress, stop,
              meta: dict) -> Compression:
    """:func:`compress` with every argument checked (``label``: the basis' name in the rows; ``meta``: the
    provenance known before measuring)."""
    all_ks = tuple(sorted({0, *listed}))
    randoms = haar_bases(int(G.latent_dim), n_random, seed)
    bases = {label: U, **{f"{RANDOM}-{i + 1}": Q for i, Q in enumerate(randoms)}}
    dist = _measure(G, D, Z, z0, bases, all_ks, fills, chunk, progress, stop)
    requested = Z.shape[0]
    Z = Z[:next(iter(dist.values())).shape[1]]                # the samples measured (all unless stopped)
    kept = {b: _kept(Z - z0, Ub, all_ks) for b, Ub in bases.items()}
    rows = _rows(all_ks, fills, dist, kept, n_random, label)
    codes_out = {k: (z0 + P).numpy() for k, P in zip(listed, _projections(Z - z0, U, listed, fills[0]))}
    images = _montage_images(G, Z, z0, U, listed, fills[0], min(montage_samples, Z.shape[0]))
    meta = {**meta, "n_samples": int(Z.shape[0]), "n_samples_requested": int(requested),
            "interrupted": int(Z.shape[0]) < requested, "ks": list(listed), "fills": list(fills),
            "random_bases": n_random, "random_seed": seed, "codes_basis": label, "codes_fill": fills[0]}
    return Compression(rows, label, all_ks, listed, fills, dist, codes_out, images,
                       _summary(rows, listed, fills, n_random, label), jsonable(meta))

