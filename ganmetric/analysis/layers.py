"""Where the anisotropy comes from: the metric of each of a generator's layers next to the image metric.

:func:`layer_metrics` computes, at the same codes, the pull-back metric of the distance of
each chosen layer (``layer:NAME``, :class:`~ganmetric.distances.LayerDistance`) and of the
image distance, with :func:`~ganmetric.analysis.batch_metric`: one batch folder per layer
(``out_dir/layer_NAME``) and one for the image (``out_dir/image``), each resumable and
split across ranks under torchrun. ``out_dir/run.json`` records what the run is (the
model, the image distance, the layer list, the solver options); a run with another model,
distance, layer list or solver options is refused before anything is written. A run holds
the folder's lock (a second run into it is refused, naming the first) and writes the table
(``layers.csv``, ``layers.json`` and the two figures) when every batch is done. A point that
failed in some folder (its image or metric not finite) is left out of every row, and the
table says how many.

Per row (the layers in forward order, then the image distance), :class:`LayerMetrics`
holds the anisotropy counts at 0.99 and 0.999 (:data:`ganmetric.linalg.ANISOTROPY_DEFINITION`,
of the mean spectrum and per point), the mean top eigenvalue, the mean effective rank
``(sum lambda)^2 / sum lambda^2``, the mean log-scale homogeneity across points
(:func:`~ganmetric.analysis.homogeneity`) and the alignment with the image metric,

    align_k = mean over points of ||U_layer,k^T U_image,k||_F^2 / k

(1: the same top-k eigenspace; ``k / n`` in expectation for a random k-dimensional
subspace, printed as the baseline).
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from .. import checks
from ..distances.layer import LayerDistance, check_layers, generator_layers
from ..distances.spec import distance_meta
from ..errors import InputError
from ..generators.spec import model_meta
from ..hessian import check_options
from ..hessian.metric import DEFAULT_EPS
from ..io import jsonable, versions, write_json
from ..linalg import anisotropy_counts
from .batch import batch_metric, lock_for_ranks
from .batch_folder import (MAX_POINTS, batch_identity, check_directory, check_size, identity_differences, point_name,
                           same_identity)
from .homogeneity import homogeneity
from .results import load_results

FORMAT = "ganmetric-layers/1"
RUN = "run.json"
IMAGE = "image"
#: the alignment's k values (each capped at the latent size and at the eigenpairs stored)
ALIGNMENT_KS = (10, 50)
COUNT_THRESHOLDS = (0.99, 0.999)
#: the table's columns, in order (``align_k{K}`` and ``align_k{K}_random`` follow for each k)
COLUMNS = ("layer", "type", "shape", "elements", "forward_order", "n99", "n999", "n99_point_mean",
           "n999_point_mean", "top_eigval", "effective_rank", "homogeneity_log")


@dataclass(frozen=True)
class LayerMetrics:
    """The layers table of :func:`layer_metrics`.

    Attributes:
        rows: one dict per row (:data:`COLUMNS` plus the alignment columns): the layers in
            forward order, then the image distance (``layer`` = "image").
        spectra: row name -> (k,) mean normalised spectrum, the mean over points of lambda_i / lambda_1.
        alignment_ks: the k values of the alignment columns.
        dim: the latent size n (the random baseline is k / n).
        meta: provenance (model, image distance, layers, solver options, codes' seed, versions;
            ``points_used`` and ``failed_points``: the points of the table, and the indices
            left out because they failed in some folder).
        interrupted: ``stop()`` ended the run early (rows and spectra are then empty).
        files: the files :func:`layer_metrics` wrote the table to (empty when interrupted).
    """

    rows: list
    spectra: dict
    alignment_ks: tuple
    dim: int
    meta: dict = field(default_factory=dict)
    interrupted: bool = False
    files: tuple = ()

    @property
    def baselines(self) -> dict:
        """k -> k / n, the expected alignment of a random k-dimensional subspace."""
        return {k: k / self.dim for k in self.alignment_ks}

    @property
    def columns(self) -> list[str]:
        return list(COLUMNS) + [c for k in self.alignment_ks for c in (f"align_k{k}", f"align_k{k}_random")]

    def to_csv(self) -> str:
        """The table as CSV text (undefined values empty)."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        return buf.getvalue()

    def to_dict(self) -> dict:
        """Everything, as strict-JSON values."""
        return jsonable({"format": FORMAT, **self.meta, "rows": self.rows,
                         "alignment": {"definition": "mean over points of ||U_layer,k^T U_image,k||_F^2 / k",
                                       "ks": list(self.alignment_ks),
                                       "random_baseline": {str(k): b for k, b in self.baselines.items()}},
                         "mean_normalised_spectra": self.spectra, "versions": versions()})

    def save(self, out_dir) -> list[Path]:
        """Write ``layers.csv``, ``layers.json``, ``layers_spectra.png`` and ``layers_summary.png`` into ``out_dir``."""
        from ..io import atomic_write_bytes
        from .layer_plots import plot_layer_spectra, plot_layer_summary
        out_dir = Path(out_dir)
        paths = [out_dir / name for name in ("layers.csv", "layers.json", "layers_spectra.png", "layers_summary.png")]
        atomic_write_bytes(paths[0], self.to_csv().encode())
        write_json(paths[1], self.to_dict())
        plot_layer_spectra(self, paths[2])
        plot_layer_summary(self, paths[3])
        return paths


def folder_name(layer: str) -> str:
    """The batch folder of a row: ``image`` or ``layer_NAME``."""
    return IMAGE if layer == IMAGE else f"layer_{layer}"


def resolve_layers(G, layers) -> list:
    """The chosen layers' :class:`~ganmetric.distances.LayerInfo`, in forward order.

    Args:
        G: the generator.
        layers: "all" (every usable submodule without submodules), "A,B,C" or a list of names.

    Returns:
        The layers' :class:`~ganmetric.distances.LayerInfo`, in forward order.

    Raises:
        InputError: no names, a repeated or unknown name (with near matches) or a layer a
            layer distance cannot use.
    """
    if isinstance(layers, str) and layers.strip() == "all":
        infos = [i for i in generator_layers(G) if i.usable and i.leaf]
        if not infos:
            raise InputError(f"{G.name} has no layer a layer distance can use", argument="layers")
    else:
        from ..distances.layer import parse_layer_spec
        names = parse_layer_spec(layers if isinstance(layers, str) else ",".join(map(str, layers)), argument="layers")
        infos = list(check_layers(G, names, argument="layers").values())
    return sorted(infos, key=lambda i: i.order)


def _alignment_ks(ks, n: int) -> tuple[int, ...]:
    ks = [checks.positive_int("alignment_ks", k) for k in ks]
    return tuple(sorted({min(k, n) for k in ks}))


def _identity(G, D, names, solver: dict) -> dict:
    dt = batch_identity(G, D, solver["method"], solver["k"], eps=solver["eps"], max_iter=solver["max_iter"],
                        tol=solver["tol"], lanczos_seed=solver["seed"], allow_tf32=solver["allow_tf32"])
    return jsonable({**model_meta(G), **distance_meta(D), "layers": list(names),
                     **{key: dt[key] for key in ("method", "k", "dtype", "solver")}})


def _check_run_folder(out_dir: Path, identity: dict) -> None:
    """Refuse a folder of another run (model, image distance, layer list or solver options)."""
    path = out_dir / RUN
    if not path.exists():
        return
    try:
        run = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is not a readable layers run record; choose another folder for out_dir",
                         argument="out_dir") from exc
    if not isinstance(run, dict) or run.get("format") != FORMAT or not isinstance(run.get("identity"), dict):
        raise InputError(f"{path} is not a ganmetric layers run record; choose another folder for out_dir",
                         argument="out_dir")
    if not same_identity(run["identity"], identity):
        differences = identity_differences(run["identity"], identity)
        raise InputError(f"{out_dir} holds a layers run with other settings ({differences}); choose another folder for "
                         f"out_dir", argument="out_dir")


def layer_metrics(G, layers, codes, out_dir, D, method: str = "auto", k: int | None = None, *,
                  chunk: int | None = None, eps: float | None = None, max_iter: int | None = None,
                  tol: float | None = None, lanczos_seed: int = 0, seed: int | None = None, z_file: str | None = None,
                  alignment_ks=ALIGNMENT_KS, max_points: int = MAX_POINTS, progress: bool = False,
                  stop=None, allow_tf32: bool = False) -> LayerMetrics:
    """The metric of each chosen layer and of the image distance at the same codes, and the layers table.

    Args:
        G: the generator.
        layers: "all", "A,B,C" or a list of names (see :func:`resolve_layers`).
        codes: (N, n) latent codes.
        out_dir: the run's folder (created; one batch folder per row, ``run.json``, and the
            table's files when every batch is done, see :meth:`LayerMetrics.save`).
        D: the image distance the layers are compared with (not a layer distance).
        method, k, chunk, eps, max_iter, tol, lanczos_seed, allow_tf32: as in
            :func:`~ganmetric.analysis.batch_metric`.
        seed, z_file: where the codes came from (recorded).
        alignment_ks: the k values of the alignment (each capped at n and at the stored eigenpairs).
        max_points: the most codes allowed (as in :func:`~ganmetric.analysis.batch_metric`).
        progress: progress bars.
        stop: called between points; True ends the run early (see ``batch_metric``).

    Returns:
        LayerMetrics (``interrupted`` when ``stop`` ended it).

    Raises:
        InputError: bad layers (one line, near matches), a layer distance as D, bad codes or
            solver options, more codes than ``max_points``, or a folder that holds another run:
            all before anything is written.
        FolderLockedError: another run is using ``out_dir``.
    """
    if not D.compares_images:
        raise InputError(f"D is the image distance the layers are compared with, not a layer distance ({D.name})",
                         argument="distance")
    infos = resolve_layers(G, layers)
    rows = [(i.name, LayerDistance([i.name], generator=G)) for i in infos] + [(IMAGE, D)]
    eps_rec = DEFAULT_EPS if eps is None else eps  # as batch_metric records it
    solver = dict(method=method, k=k, chunk=chunk, eps=eps, max_iter=max_iter, tol=tol, seed=lanczos_seed)
    allow_tf32 = checks.flag("allow_tf32", allow_tf32)
    for _, dist in rows:
        check_options(G, dist, **solver)
    codes_np = checks.latent_codes("codes", codes, int(G.latent_dim)).detach().cpu().double().numpy()
    check_size(len(codes_np), int(G.latent_dim), k, getattr(G, "dtype", torch.float32), max_points)
    ks = _alignment_ks(alignment_ks, int(G.latent_dim))
    out_dir = Path(out_dir)
    identity = _identity(G, D, [i.name for i in infos], {**solver, "eps": eps_rec, "allow_tf32": allow_tf32})
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"out_dir {out_dir} is a file; a layers run needs a folder", argument="out_dir")
    lock = lock_for_ranks(out_dir, G.device)
    try:
        _check_run_folder(out_dir, identity)
        for name, dist in rows:
            folder = out_dir / folder_name(name)
            if folder.is_dir():
                check_directory(folder, batch_identity(G, dist, method, k, eps=eps_rec, max_iter=max_iter, tol=tol,
                                                       lanczos_seed=lanczos_seed, allow_tf32=allow_tf32),
                                codes_np, seed)
        _write_run(out_dir, identity, seed, z_file, G.device)
        for name, dist in rows:
            s = batch_metric(G, dist, codes_np, out_dir / folder_name(name), method, k, chunk=chunk, eps=eps,
                             max_iter=max_iter, tol=tol, lanczos_seed=lanczos_seed, seed=seed, z_file=z_file,
                             max_points=max_points, progress=progress, stop=stop, allow_tf32=allow_tf32)
            if s.interrupted:
                return LayerMetrics([], {}, ks, int(G.latent_dim), {}, interrupted=True)
        meta = {**identity, "n_points": len(codes_np), "seed": seed, "z_file": z_file}
        table = layers_table(out_dir, infos, G, ks, meta)
        from .distributed import rank_and_world
        return replace(table, files=tuple(table.save(out_dir))) if rank_and_world()[0] == 0 else table
    finally:
        if lock is not None:
            lock.release()


def _write_run(out_dir: Path, identity: dict, seed, z_file, device=None) -> None:
    from .distributed import barrier, rank_and_world
    rank, _ = rank_and_world()
    if rank == 0:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create {out_dir}: {exc.strerror or exc}", argument="out_dir") from exc
        write_json(out_dir / RUN, {"format": FORMAT, "identity": identity, "seed": seed, "z_file": z_file})
    barrier(device)


def _effective_rank(vals: np.ndarray) -> np.ndarray:
    """(sum |lambda|)^2 / sum lambda^2 per row (NaN for an all-zero spectrum)."""
    a = np.abs(vals)
    sq = (a ** 2).sum(1)
    return np.where(sq > 0, a.sum(1) ** 2 / np.where(sq > 0, sq, 1), np.nan)


def _counts(spectra: np.ndarray, mean: np.ndarray) -> tuple[list, list]:
    """Anisotropy counts of the mean spectrum, and their per-point means (None when undefined)."""
    try:
        of_mean = [int(c) for c in anisotropy_counts(mean, COUNT_THRESHOLDS)]
    except InputError:  # an all-zero spectrum has no count
        of_mean = [None] * len(COUNT_THRESHOLDS)
    ok = np.abs(spectra).sum(1) > 0
    per_point = anisotropy_counts(spectra[ok], COUNT_THRESHOLDS).mean(0).tolist() if ok.any() else \
        [None] * len(COUNT_THRESHOLDS)
    return of_mean, per_point


def _alignment(U_layer: np.ndarray, U_image: np.ndarray, k: int) -> float:
    """Mean over points of ||U_layer,k^T U_image,k||_F^2 / k for (N, n, K) eigenvector stacks."""
    overlap = np.einsum("pik,pil->pkl", U_layer[:, :, :k], U_image[:, :, :k])
    return float(((overlap ** 2).sum((1, 2)) / k).mean())


def _row(name: str, kind: str, shape, order, rs, image_vecs: np.ndarray, ks) -> tuple[dict, np.ndarray]:
    vals = rs.eigvals
    top = vals[:, :1]
    normalised = np.where(top > 0, vals / np.where(top > 0, top, 1), np.nan).mean(0)
    of_mean, per_point = _counts(vals, vals.mean(0))
    hom = homogeneity(rs).summary()["corr_log"]["mean"] if len(rs) >= 2 else None
    elements = int(np.prod(shape[1:])) if shape else None
    row = {"layer": name, "type": kind, "shape": "x".join(map(str, shape)) if shape else None, "elements": elements,
           "forward_order": order, "n99": of_mean[0], "n999": of_mean[1], "n99_point_mean": per_point[0],
           "n999_point_mean": per_point[1], "top_eigval": float(vals[:, 0].mean()),
           "effective_rank": float(np.nanmean(_effective_rank(vals))) if np.isfinite(_effective_rank(vals)).any()
           else None, "homogeneity_log": hom}
    for k in ks:
        row[f"align_k{k}"] = _alignment(rs.eigvecs, image_vecs, k)
        row[f"align_k{k}_random"] = k / rs.dim
    return jsonable(row), normalised


def _common_points(out_dir: Path, names, n_points: int) -> tuple[list[int], list[int]]:
    """(indices whose point file every folder holds, indices some folder's manifest records as failed)."""
    have, failed = None, set()
    for name in names:
        folder = out_dir / folder_name(name)
        present = {i for i in range(n_points) if (folder / point_name(i)).exists()}
        have = present if have is None else have & present
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
            failed |= {int(p["index"]) for p in manifest.get("points", []) if p.get("status") == "failed"}
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return sorted(have), sorted(failed - have)


def layers_table(out_dir, infos, G, alignment_ks, meta: dict) -> LayerMetrics:
    """The :class:`LayerMetrics` of a finished run's folders (the layers of ``infos``, then the image).

    Every row is computed over the same points: those every folder holds (a point that failed
    in some folder is left out of all of them, ``meta["failed_points"]``).

    Args:
        out_dir: the run's folder (one batch folder per layer, and one for the image distance).
        infos: the layers' :class:`~ganmetric.distances.LayerInfo`, in forward order.
        G: the generator.
        alignment_ks: the k values of the alignment columns.
        meta: the run's provenance (model, image distance, layers, solver options...).

    Returns:
        The :class:`LayerMetrics` (rows, mean normalised spectra, meta).

    Raises:
        InputError: a folder that does not hold this run's points (a point neither done nor
            failed: the run is not finished).
    """
    out_dir = Path(out_dir)
    names = [i.name for i in infos] + [IMAGE]
    used, failed = _common_points(out_dir, names, int(meta["n_points"]))
    if len(used) + len(failed) < meta["n_points"]:
        raise InputError(f"{out_dir} holds {len(used)} of the run's {meta['n_points']} points in every folder"
                         + (f" ({len(failed)} failed)" if failed else "") + ": finish the run first",
                         argument="out_dir")
    if not used:
        raise InputError(f"every point of {out_dir} failed in some folder (its image or metric was not finite: see "
                         f"the folders' manifest.json)", argument="out_dir")
    sets = {name: load_results([out_dir / folder_name(name) / point_name(i) for i in used]) for name in names}
    meta = {**meta, "points_used": len(used), "failed_points": failed}
    image = sets[IMAGE]
    stored = min(rs.k for rs in sets.values())
    ks = tuple(sorted({min(k, stored) for k in alignment_ks}))
    with torch.no_grad():
        out_shape = (1,) + tuple(G(G.sample(1, seed=0)).shape[1:])
    described = [(i.name, i.type, i.shape, i.order) for i in infos] + [(IMAGE, meta.get("distance"), out_shape, None)]
    meta = {**meta, "resolved_method": image.meta.get("method")}
    rows, spectra = [], {}
    for name, kind, shape, order in described:
        row, spectra[name] = _row(name, kind, shape, order, sets[name], image.eigvecs, ks)
        rows.append(row)
    return LayerMetrics(rows, spectra, ks, image.dim, meta)
