"""The files of a path run: codes, summary.json, montage.png, steps.png and one GIF per path.

:func:`check_outputs` runs before any long work (the options and the folder: a folder
holding other files, or an earlier run's without ``overwrite``, is refused);
:func:`write_outputs` writes the whole set through :func:`ganmetric.staging.staged_dir`, so
the folder holds either the previous complete set or the new one.
"""
from __future__ import annotations

import io
from pathlib import Path

from .. import checks
from ..distances import distance_meta
from ..generators import model_meta
from ..io import atomic_write_bytes, npy_bytes, versions, write_json
from ..staging import check_output_dir, staged_dir
from .plots import MONTAGE_FRAMES, gif_bytes, montage_image, steps_png

#: format of summary.json
SUMMARY_FORMAT = "ganmetric-paths/1"
OUTPUT_PATTERNS = ("summary.json", "montage.png", "steps.png", "codes_*.npy", "path_*.gif")
"""Every file name a path run may write (an output folder holding only these is an earlier run's)."""


def output_files(methods, *, codes: bool = True) -> dict:
    """The output files of paths made by these methods.

    Args:
        methods: the path methods (each has its GIF and, with ``codes``, its codes file).
        codes: whether the paths' codes are written (False, e.g., for a measured path the user
            already has).

    Returns:
        Output key -> file name (``summary``, ``montage``, ``steps``, ``codes_METHOD``, ``gif_METHOD``).
    """
    files = {"summary": "summary.json", "montage": "montage.png", "steps": "steps.png"}
    for method in methods:
        if codes:
            files[f"codes_{method}"] = f"codes_{method}.npy"
        files[f"gif_{method}"] = f"path_{method}.gif"
    return files


def check_outputs(folder, methods, *, codes: bool = True, frames: int = MONTAGE_FRAMES, scale: int = 1,
                  overwrite: bool = False) -> dict:
    """Check the options and the output folder before the long work (nothing is created).

    Args:
        folder: the output folder.
        methods: the path methods (each has its files).
        codes: whether the paths' codes are written (``codes_METHOD.npy``).
        frames: the montage's columns at most (>= 2).
        scale: integer upscaling of the images (>= 1).
        overwrite: replace an earlier run's outputs in ``folder``.

    Returns:
        Output key -> file name (``summary``, ``montage``, ``steps``, ``codes_METHOD``, ``gif_METHOD``).

    Raises:
        InputError: a bad frames or scale; ``folder`` is a file, holds other files, or holds
            an earlier run's outputs and ``overwrite`` is not set.
    """
    checks.integer("frames", frames, minimum=2)
    checks.positive_int("scale", scale)
    check_output_dir(folder, outputs=OUTPUT_PATTERNS, overwrite=overwrite, what="path")
    return output_files(methods, codes=codes)


def path_summary(G, D, paths: dict, *, options: dict | None = None, endpoints: dict | None = None,
                 files: dict | None = None, interrupted: bool = False) -> dict:
    """The JSON record of a run: provenance (model, distance, options, versions), every path's
    numbers, the length ratios of the geodesic to the other paths, and whether the run was
    interrupted (then ``paths`` holds the paths made so far).

    Args:
        G: the generator.
        D: the distance the paths were measured with.
        paths: ``{method: LatentPath}``.
        options: the options that made the paths.
        endpoints: how the endpoints were given (seeds or files).
        files: the output files (key -> file name).
        interrupted: whether the run was stopped early.

    Returns:
        A JSON-ready dict (summary.json).
    """
    ratios = {}
    if "geodesic" in paths:
        for method, path in paths.items():
            if method != "geodesic" and path.length > 0:
                ratios[f"geodesic/{method}"] = paths["geodesic"].length / path.length
    return {"format": SUMMARY_FORMAT, **model_meta(G), **distance_meta(D), "options": dict(options or {}),
            "endpoints": dict(endpoints or {}), "paths": {m: p.summary() for m, p in paths.items()},
            "length_ratios": ratios, "files": dict(files or {}), "interrupted": bool(interrupted),
            "versions": versions()}


def write_outputs(folder, G, D, paths: dict, summary: dict, files: dict, *, frames: int = MONTAGE_FRAMES,
                  scale: int = 1, overwrite: bool = False) -> None:
    """Write the files :func:`output_files` named for ``paths``: codes, GIFs, montage, steps and the summary.

    The set is written into a staging folder and swapped in whole (see
    :func:`ganmetric.staging.staged_dir`; inside a caller's ``staged_dir`` block, into its stage).

    Args:
        folder: the output folder (checked by :func:`check_outputs`).
        G: the generator (renders the frames).
        D: the distance (captions the frames with the length travelled).
        paths: ``{method: LatentPath}``.
        summary: the JSON record (:func:`path_summary`).
        files: the output files, as :func:`check_outputs` returned them.
        frames: the montage's columns at most.
        scale: integer upscaling of the images.
        overwrite: replace an earlier run's outputs in ``folder``.

    Raises:
        InputError: the folder holds other files, or an earlier run's and ``overwrite`` is not set.
        FolderLockedError: another run is writing the folder.
        OutputError: a file cannot be written (nothing of this run is left then).
    """
    with staged_dir(folder, outputs=OUTPUT_PATTERNS, overwrite=overwrite, what="path") as stage:
        _write(Path(stage), G, D, paths, summary, files, frames=frames, scale=scale)


def _write(folder: Path, G, D, paths: dict, summary: dict, files: dict, *, frames: int, scale: int) -> None:
    for method, path in paths.items():
        if f"codes_{method}" in files:
            atomic_write_bytes(folder / files[f"codes_{method}"], npy_bytes(path.codes.numpy()))
        atomic_write_bytes(folder / files[f"gif_{method}"], gif_bytes(G, path, method=method))
    image = montage_image(G, D, paths, frames=frames, scale=scale)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    atomic_write_bytes(folder / files["montage"], buf.getvalue())
    atomic_write_bytes(folder / files["steps"], steps_png(G, D, paths))
    write_json(folder / files["summary"], summary)


def report_lines(paths: dict) -> list[str]:
    """A plain-text table of the paths (one row each) and the geodesic's length ratios.

    Args:
        paths: ``{method: LatentPath}``.

    Returns:
        The lines to print (a header, one row per path, and the ratios when there is a geodesic).
    """
    lines = [f"{'method':<10} {'points':>6} {'length':>9} {'energy':>9} {'L^2/E':>6} {'max/mean':>8} {'min |z|':>7} "
             f"{'iters':>5} {'seconds':>7}  converged"]
    for method, p in paths.items():
        ratio = f"{p.length ** 2 / p.energy:.3f}" if p.energy > 0 else "n/a"
        even = f"{p.evenness:.3f}" if p.evenness is not None else "n/a"
        conv = {None: "-", True: "yes"}.get(p.converged, f"no ({p.stages[-1]['stop_reason']})" if p.stages else "no")
        lines.append(f"{method:<10} {p.points:>6} {p.length:>9.4g} {p.energy:>9.4g} {ratio:>6} {even:>8} "
                     f"{float(p.norms.min()):>7.3g} {p.iterations:>5} {p.seconds:>7.1f}  {conv}")
    if "geodesic" in paths:
        ratios = [f"geodesic / {m}: {paths['geodesic'].length / p.length:.3f}" for m, p in paths.items()
                  if m != "geodesic" and p.length > 0]
        if ratios:
            lines.append("length ratios: " + ", ".join(ratios))
    return lines
