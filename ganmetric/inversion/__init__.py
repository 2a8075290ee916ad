"""GAN inversion, optionally preconditioned by the metric.

    res = ganmetric.invert(G, "photo.png", "mse", basis="avg.npz", steps=500, restarts=4, box=(160, 115, 370, 325))
    res.z, res.image, res.losses   # best code, its image, loss per step for each restart
    res.fit                        # the fit's distance, PSNR and SSIM (and, with true_z, cosine and L2 to it)

``invert`` is ``run_inversion(prepare_inversion(...))``: prepare checks everything first;
``write_outputs(folder, res, inversion_summary(G, D, res))`` writes the files ``ganmetric invert`` writes.
"""
from ..basis import basis_meta, check_basis_for, resolve_basis
from .images import CROPS, DEFAULT_MAX_PIXELS, RESAMPLE, load_image
from .invert import InversionResult, invert, run_inversion
from .outputs import OUTPUT_PATTERNS, OUTPUTS, inversion_summary, report_lines, write_outputs
from .problem import OPTIMIZERS, PIXEL_LOSSES, Inversion, initial_codes, prepare_inversion
from .plots import loss_curve_png, side_by_side_png
from .quality import psnr, ssim

__all__ = ["invert", "prepare_inversion", "run_inversion", "Inversion", "InversionResult", "load_image",
           "resolve_basis", "check_basis_for", "basis_meta", "initial_codes", "psnr", "ssim",
           "side_by_side_png", "loss_curve_png",
           "OPTIMIZERS", "PIXEL_LOSSES", "CROPS", "RESAMPLE", "DEFAULT_MAX_PIXELS",
           "OUTPUTS", "OUTPUT_PATTERNS", "inversion_summary", "write_outputs", "report_lines"]
