"""What a comparison writes into its folder: codes, images, traces, scores.csv, curves, montage, summary.

Per arm and seed: ``best_{label}_s{seed}.npy`` (the best code, (n,)), ``best_{label}_s{seed}.png``
(its image) and ``trace_{label}_s{seed}.csv`` (one row per generation). For the whole run:
``scores.csv`` (every generation of every run), ``curves.png`` (best-so-far against images
scored: mean over seeds and min-max band, one line per method), ``best_montage.png`` (rows:
methods, columns: seeds) and ``summary.json`` (provenance, every run's best, medians, wins).
The set is written whole (:func:`ganmetric.staging.staged_dir`: the folder holds the previous
complete set or the new one); a run that scored nothing gets no code or image file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..generators import model_meta
from ..io import atomic_write_bytes, npy_bytes, versions, write_json
from ..plotting import figure, figure_png_bytes, save_image, to_uint8
from ..staging import check_output_dir, staged_dir
from .run import TRACE_KEYS, Comparison

OUTPUTS = {"scores": "scores.csv", "curves": "curves.png", "montage": "best_montage.png", "summary": "summary.json"}
"""The files of the whole comparison."""
OUTPUT_PATTERNS = (*OUTPUTS.values(), "best_*.npy", "best_*.png", "trace_*.csv")
"""Every file name a comparison may write (a folder holding only these is an earlier run's)."""
#: the trace columns written, in order
CSV_COLUMNS = ("method", "seed") + TRACE_KEYS


def run_files(label: str, seed: int) -> dict:
    """The files of one run: ``code`` (.npy), ``image`` (.png), ``trace`` (.csv).

    Args:
        label: the arm's label.
        seed: the run's seed.

    Returns:
        ``{"code", "image", "trace"}`` -> file name (e.g. ``best_cma_s0.npy``).
    """
    stem = f"{label}_s{seed}"
    return {"code": f"best_{stem}.npy", "image": f"best_{stem}.png", "trace": f"trace_{stem}.csv"}


def all_files(plan) -> list[str]:
    """Every file a comparison of ``plan`` may write (to check the folder before the run)."""
    names = list(OUTPUTS.values())
    for seed in plan.seeds:
        for arm in plan.arms:
            names += run_files(arm["label"], seed).values()
    return names


def check_folder(plan, out_dir, *, overwrite: bool = False) -> Path:
    """Check the output folder before any work (nothing is created).

    Args:
        plan: the :class:`Plan` (its arms and seeds name the files).
        out_dir: the output folder.
        overwrite: replace an earlier run's outputs in ``out_dir``.

    Returns:
        The folder, as a Path.

    Raises:
        InputError: ``out_dir`` is a file, holds other files, or holds an earlier run's
            outputs and ``overwrite`` is not set.
    """
    check_output_dir(out_dir, outputs=OUTPUT_PATTERNS, overwrite=overwrite, what="optimize")
    return Path(out_dir)


def _cell(value) -> str:
    if isinstance(value, (float, np.floating)):
        return "" if not np.isfinite(value) else f"{float(value):.9g}"
    return str(value)


def _csv(rows) -> bytes:
    return ("\n".join(",".join(_cell(v) for v in row) for row in rows) + "\n").encode()


def _trace_rows(run) -> list:
    t = run.trace
    return [[run.label, run.seed] + [t[k][i] for k in TRACE_KEYS] for i in range(len(t["generation"]))]


def _band(runs, maximize: bool):
    """(evaluations 1..E, mean, min, max) of best-so-far over runs, E the shortest run's length."""
    curves = [r.best_so_far() for r in runs if r.evaluations]
    if not curves:
        return None
    E = min(len(c) for c in curves)
    stack = np.stack([c[:E] for c in curves])
    return np.arange(1, E + 1), stack.mean(0), stack.min(0), stack.max(0)


def _title(cmp: Comparison) -> str:
    p = cmp.plan
    s = p.settings
    why = "interrupted" if cmp.stopped == "interrupted" else "the objective failed (summary.json says how)"
    stop = f"  [stopped early: {why}]" if cmp.stopped else ""
    return (f"{p.G.name} [{p.G.latent_space}, n={p.G.latent_dim}]  |  {p.objective.description}\n"
            f"{'maximised' if p.maximize else 'minimised'}, budget {p.budget} images, popsize {p.popsize}, "
            f"sigma0 {s['sigma0']:g}, {len(p.seeds)} seed(s){stop}")


def curves_png(cmp: Comparison) -> bytes:
    """Best score so far against images scored: the mean over seeds (line) and min-max (band), one line per method.

    Args:
        cmp: the :class:`Comparison`.

    Returns:
        The figure as PNG bytes.
    """
    fig = figure(figsize=(7.2, 4.8))
    ax = fig.subplots()
    medians = cmp.medians()
    for i, label in enumerate(cmp.labels):
        band = _band([r for r in cmp.runs if r.label == label], cmp.plan.maximize)
        if band is None:
            continue
        x, mean, lo, hi = band
        n = sum(1 for r in cmp.runs if r.label == label and r.evaluations)
        med = f", median final {medians[label]:.4g}" if medians.get(label) is not None else ""
        arm = next(a for a in cmp.plan.arms if a["label"] == label)
        basis = f", k={arm['top']}, p={arm['eigval_power']:g}" if arm["method"] == "hess-cma" else ""
        line, = ax.plot(x, mean, lw=1.6, label=f"{label} ({n} seed{'s' * (n != 1)}{basis}{med})", color=f"C{i}")
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.15, lw=0)
    ax.set_xlabel("images scored")
    ax.set_ylabel("best score so far" + ("" if cmp.plan.maximize else " (minimised)"))
    ax.grid(alpha=0.3)
    if not ax.lines:  # nothing was scored (the objective failed on the first call): say so, no empty legend
        ax.text(0.5, 0.5, "no image was scored", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(_title(cmp), fontsize=8)
        return figure_png_bytes(fig, dpi=100, bbox_inches="tight")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2 if len(cmp.labels) > 3 else 1,
              title="line: mean over seeds; band: min-max over seeds", title_fontsize=7)  # below: never on the data
    ax.set_title(_title(cmp), fontsize=8)
    return figure_png_bytes(fig, dpi=100, bbox_inches="tight")


def montage_png(cmp: Comparison) -> bytes:
    """The best image of every run: rows are methods, columns are seeds, each captioned with its score.

    Args:
        cmp: the :class:`Comparison`.

    Returns:
        The montage as PNG bytes.
    """
    labels, seeds = cmp.labels, cmp.plan.seeds
    fig = figure(figsize=(1.55 * len(seeds) + 1.2, 1.75 * len(labels) + 0.9), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(labels), len(seeds), squeeze=False))
    for i, label in enumerate(labels):
        for j, seed in enumerate(seeds):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            run = cmp.run(label, seed)
            if run is not None and run.image is not None:
                pix = to_uint8(run.image)
                grey = pix.shape[-1] == 1
                ax.imshow(pix[..., 0] if grey else pix, cmap="gray" if grey else None, vmin=0, vmax=255)
                ax.set_title(f"seed {seed}: {run.score:.4g}" + ("*" if run.stopped else ""), fontsize=7)
            else:
                ax.set_title(f"seed {seed}: " + ("not run" if run is None else "nothing scored*"), fontsize=7)
            if j == 0:
                ax.set_ylabel(label, fontsize=8)
    note = "\nrows: methods; columns: seeds; caption: best score" + \
           ("; * = run stopped early" if any(r.stopped for r in cmp.runs) else "")
    fig.suptitle(_title(cmp) + note, fontsize=7)
    return figure_png_bytes(fig, dpi=100, bbox_inches="tight")


def _provenance(cmp: Comparison) -> dict:
    from importlib import metadata
    extra = {}
    for pkg in ("cma", "torchvision"):
        try:
            extra[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return {**model_meta(cmp.plan.G), "versions": {**versions(), **extra}}


def comparison_summary(cmp: Comparison, files: dict | None = None, **extra) -> dict:
    """The summary.json content: model, objective, settings, basis, every run, medians, wins, versions.

    Args:
        cmp: the :class:`Comparison`.
        files: the files written (name -> file name), recorded under ``files``.
        **extra: more JSON-ready keys (e.g. the basis file's record).

    Returns:
        A JSON-ready dict.
    """
    return {**_provenance(cmp), **extra, **cmp.summary(), "files": files or {}}


def write_outputs(cmp: Comparison, out_dir, *, overwrite: bool = False, **extra) -> dict:
    """Write every file of a comparison into ``out_dir`` (created if missing), whole; returns name -> path.

    Args:
        cmp: the comparison (complete or stopped early: what it has is written).
        out_dir: the folder.
        overwrite: replace an earlier run's files in ``out_dir``.
        **extra: more JSON-ready keys for summary.json (e.g. the basis file's record).

    Returns:
        File name -> path of every file written.

    Raises:
        InputError: the folder is a file, holds other files, or an earlier run's and
            ``overwrite`` is not set.
        FolderLockedError: another run is writing it. OutputError: a file cannot be written.
    """
    with staged_dir(out_dir, outputs=OUTPUT_PATTERNS, overwrite=overwrite, what="optimize") as stage:
        written = _write(cmp, Path(stage), extra)
    return {name: Path(out_dir) / name for name in written}


def _write(cmp: Comparison, folder: Path, extra: dict) -> dict:
    written = {}
    for run in cmp.runs:
        names = run_files(run.label, run.seed)
        atomic_write_bytes(folder / names["trace"], _csv([TRACE_KEYS] + [row[2:] for row in _trace_rows(run)]))
        written[names["trace"]] = folder / names["trace"]
        if run.z is not None:
            atomic_write_bytes(folder / names["code"], npy_bytes(run.z.numpy()))
            save_image(run.image, folder / names["image"])
            written.update({names["code"]: folder / names["code"], names["image"]: folder / names["image"]})
    rows = [CSV_COLUMNS] + [row for run in cmp.runs for row in _trace_rows(run)]
    atomic_write_bytes(folder / OUTPUTS["scores"], _csv(rows))
    atomic_write_bytes(folder / OUTPUTS["curves"], curves_png(cmp))
    atomic_write_bytes(folder / OUTPUTS["montage"], montage_png(cmp))
    files = {**OUTPUTS, "runs": {f"{r.label}_s{r.seed}": {k: v for k, v in run_files(r.label, r.seed).items()
                                                          if v in written} for r in cmp.runs}}
    write_json(folder / OUTPUTS["summary"], comparison_summary(cmp, files, **extra))
    written.update({name: folder / name for name in OUTPUTS.values()})
    return written
