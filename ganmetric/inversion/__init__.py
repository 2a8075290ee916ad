"""GAN inversion, optionally preconditioned by the metric: ``invert`` and its helpers.

    res = ganmetric.invert(G, "photo.png", "mse", basis="avg.npz", steps=500, restarts=4)
    res.z, res.image, res.losses   # best code, its image, loss per step for each restart
"""
from .basis import read_basis_file, resolve_basis
from .images import image_to_png_bytes, load_image
from .invert import OPTIMIZERS, PIXEL_LOSSES, InversionResult, initial_codes, invert
from .plots import loss_curve_png, side_by_side_png

__all__ = ["invert", "InversionResult", "load_image", "resolve_basis", "read_basis_file", "initial_codes",
           "image_to_png_bytes", "side_by_side_png", "loss_curve_png", "OPTIMIZERS", "PIXEL_LOSSES"]
