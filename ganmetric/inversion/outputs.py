"""The files of an inversion run: code.npy, codes.npy, losses.npy, fit.png, side_by_side.png,
loss_curve.png and summary.json.

:func:`write_outputs` writes the whole set through :func:`ganmetric.staging.staged_dir`, so the
folder holds either the previous complete set or the new one; a caller that runs the inversion
inside its own ``staged_dir(folder, outputs=OUTPUT_PATTERNS, ...)`` block (holding the folder's
lock for the run) has it written into that block's stage.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..distances import distance_meta
from ..generators import model_meta
from ..io import atomic_write_bytes, npy_bytes, write_json
from ..plotting import save_image
from ..staging import staged_dir
from .invert import InversionResult
from .plots import loss_curve_png, side_by_side_png

OUTPUTS = {"code": "code.npy", "codes": "codes.npy", "losses": "losses.npy", "fit": "fit.png",
           "side_by_side": "side_by_side.png", "loss_curve": "loss_curve.png", "summary": "summary.json"}
"""What -> the file of an inversion run it is written to."""
OUTPUT_PATTERNS = tuple(OUTPUTS.values())
"""Every file name an inversion run writes (an output folder holding only these is an earlier run's)."""


def inversion_summary(G, D, res: InversionResult, *, image=None, box=None, basis_file=None,
                      true_z_file=None) -> dict:
    """The JSON record of a run: the model and distance (as :func:`~ganmetric.generators.model_meta`
    and :func:`~ganmetric.distances.distance_meta` record them), the inputs named by path, the
    result's summary and the files written.

    Args:
        G: the generator.
        D: the distance, or None (a pixel loss alone).
        res: the run's result.
        image: the target image file, if the target was one.
        box: the box the image was cut to, if any.
        basis_file: the file the basis came from, if any.
        true_z_file: the file of the known code, if any.

    Returns:
        A JSON-ready dict (written as ``summary.json``).
    """
    return {**model_meta(G), **({} if D is None else distance_meta(D)),
            "image": None if image is None else str(image), "box": None if box is None else list(box),
            "basis_file": None if basis_file is None else str(basis_file),
            "true_z_file": None if true_z_file is None else str(true_z_file), **res.summary(), "files": OUTPUTS}


def write_outputs(folder, res: InversionResult, summary: dict, *, overwrite: bool = False) -> None:
    """Write :data:`OUTPUTS` of ``res`` into ``folder``, whole.

    Args:
        folder: the output folder (created with its parents); inside a caller's
            ``staged_dir`` block, that block's stage.
        res: the run's result.
        summary: its record (:func:`inversion_summary`).
        overwrite: replace an earlier run's files in ``folder``.

    Raises:
        InputError: ``folder`` holds files an inversion does not write, or an earlier run's files
            and ``overwrite`` is not set (:func:`~ganmetric.staging.staged_dir` refuses them).
        FolderLockedError: another run holds ``folder``.
        OutputError: a write failed; nothing of this run is left.
    """
    with staged_dir(folder, outputs=OUTPUT_PATTERNS, overwrite=overwrite, what="invert") as stage:
        stage = Path(stage)
        for key, array in (("code", res.z), ("codes", res.codes), ("losses", res.losses)):
            atomic_write_bytes(stage / OUTPUTS[key], npy_bytes(array.numpy()))
        save_image(res.image, stage / OUTPUTS["fit"])
        atomic_write_bytes(stage / OUTPUTS["side_by_side"], side_by_side_png(res))
        atomic_write_bytes(stage / OUTPUTS["loss_curve"], loss_curve_png(res))
        write_json(stage / OUTPUTS["summary"], summary)


def report_lines(res: InversionResult) -> list[str]:
    """The run in plain text: basis and optimiser, the losses, the fit, the distance to a known
    code, and how far an interrupted run got.

    Args:
        res: the run's result.

    Returns:
        The lines, to print.
    """
    s, fit = res.settings, res.fit
    lines = [f"basis: {res.basis_label}  {s['optimizer']} lr={s['lr']:g}  {s['steps']} steps x {s['restarts']} "
             f"restarts  {res.seconds:.1f} s"]
    finals = np.sort(res.final_losses.numpy())
    spread = (", ".join(f"{v:.4g}" for v in res.final_losses.tolist()) if len(finals) <= 8 else
              f"median {np.median(finals):.4g}, worst {finals[-1]:.4g}")
    lines.append(f"best loss {res.loss:.5g} (restart {res.best_restart}); final losses: {spread}")
    dist = f"{fit['distance_name']} {fit['distance']:.4g}, " if fit["distance"] is not None else ""
    ssim = f"{fit['ssim']:.4f}" if fit["ssim"] is not None else "n/a (image smaller than its 11x11 window)"
    lines.append(f"fit: {dist}PSNR {fit['psnr_db']:.2f} dB, SSIM {ssim}")
    if fit["true_z_l2"] is not None:
        cos = f"{fit['true_z_cosine']:.4f}" if fit["true_z_cosine"] is not None else "undefined (a zero code)"
        lines.append(f"to the known code: cosine similarity {cos}, L2 distance {fit['true_z_l2']:.4g}")
    if res.interrupted:
        lines.append(f"interrupted: {len(res.steps_done)} of {s['restarts']} restarts run, "
                     f"{min(res.steps_done)}-{max(res.steps_done)} of {s['steps']} steps each")
    return lines
