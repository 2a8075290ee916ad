"""How good a fit is: PSNR and SSIM of images in [-1, 1], both computed on images mapped to [0, 1].

SSIM is the standard Gaussian-window form (Wang, Bovik, Sheikh & Simoncelli 2004): an
11 x 11 Gaussian window with sigma 1.5 gives local means ``mu``, variances ``s^2`` and the
covariance ``s_xy`` at every position where the window fits inside the image, and

    SSIM = mean over positions and channels of
           (2 mu_x mu_y + C1) (2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1) (s_x^2 + s_y^2 + C2)),
    C1 = (0.01 L)^2,  C2 = (0.03 L)^2,  L = 1 (the range of [0, 1] images).

(Population moments under the window's weights, as scikit-image computes with
``gaussian_weights=True, use_sample_covariance=False, data_range=1``.)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputError

#: side and Gaussian sigma of the SSIM window, and its constants (for a dynamic range L = 1)
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = 0.01 ** 2
SSIM_C2 = 0.03 ** 2


def _unit_pair(x, y) -> tuple[torch.Tensor, torch.Tensor]:
    """Both images as float64 (B, C, H, W) in [0, 1] (x in [-1, 1] maps to (x + 1) / 2)."""
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.dim() not in (3, 4):
            raise InputError(f"{name} must be a floating-point (C, H, W) or (B, C, H, W) tensor in [-1, 1]",
                             argument=name)
    if x.shape != y.shape:
        raise InputError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}", argument="y")
    x, y = (t.detach().to(torch.float64) for t in (x, y))
    if x.dim() == 3:
        x, y = x[None], y[None]
    return (x + 1) / 2, (y + 1) / 2


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB: ``10 log10(1 / MSE)`` with the MSE over C, H, W of [0, 1] images.

    Args:
        x, y: images (C, H, W) or (B, C, H, W) in [-1, 1], same shape.

    Returns:
        (B,) float64 (inf where the images are equal).

    Raises:
        InputError: not two image tensors of the same shape.
    """
    x, y = _unit_pair(x, y)
    mse = (x - y).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1 / mse)


def _gaussian(size: int, sigma: float, like: torch.Tensor) -> torch.Tensor:
    r = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2
    g = torch.exp(-r.pow(2) / (2 * sigma ** 2))
    return g / g.sum()


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004, Gaussian 11 x 11 window, sigma 1.5), see the module docstring.

    Args:
        x, y: images (C, H, W) or (B, C, H, W) in [-1, 1], same shape, H and W at least 11.

    Returns:
        (B,) float64 in [-1, 1]; 1 for identical images.

    Raises:
        InputError: not two image tensors of the same shape, or smaller than the window.
    """
    x, y = _unit_pair(x, y)
    b, c, h, w = x.shape
    if min(h, w) < SSIM_WINDOW:
        raise InputError(f"SSIM needs images of at least {SSIM_WINDOW} x {SSIM_WINDOW} pixels (its window), "
                         f"got {h} x {w}", argument="x")
    g = _gaussian(SSIM_WINDOW, SSIM_SIGMA, x)
    maps = torch.cat([x, y, x * x, y * y, x * y]).reshape(5 * b * c, 1, h, w)
    # separable window, no padding: only positions where the whole window lies inside the image
    local = F.conv2d(F.conv2d(maps, g.view(1, 1, 1, -1)), g.view(1, 1, -1, 1)).reshape(5, b, c, -1)
    mu_x, mu_y, xx, yy, xy = local
    var_x, var_y, cov = xx - mu_x ** 2, yy - mu_y ** 2, xy - mu_x * mu_y
    s = ((2 * mu_x * mu_y + SSIM_C1) * (2 * cov + SSIM_C2)
         / ((mu_x ** 2 + mu_y ** 2 + SSIM_C1) * (var_x + var_y + SSIM_C2)))
    return s.flatten(1).mean(1)
