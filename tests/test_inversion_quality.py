"""ganmetric.inversion.quality: PSNR and Gaussian-window SSIM against closed forms and an explicit-sum reference."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganmetric.errors import InputError
from ganmetric.inversion import psnr, ssim

C1, C2 = 0.01 ** 2, 0.03 ** 2


def _pair(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1
    y = (x + 0.3 * torch.randn(shape, generator=g, dtype=torch.float64)).clamp(-1, 1)
    return x, y


def _ssim_by_explicit_sums(x: np.ndarray, y: np.ndarray) -> float:
    """Wang et al. (2004) by hand: the 11 x 11 Gaussian (sigma 1.5) weights at every position
    where the window fits, population moments, mean over positions and channels ([0, 1] images)."""
    r = np.arange(11) - 5.0
    g = np.exp(-r ** 2 / (2 * 1.5 ** 2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    x, y = (x + 1) / 2, (y + 1) / 2
    vals = []
    for c in range(x.shape[0]):
        for i in range(x.shape[1] - 10):
            for j in range(x.shape[2] - 10):
                a, b = x[c, i:i + 11, j:j + 11], y[c, i:i + 11, j:j + 11]
                mx, my = (w * a).sum(), (w * b).sum()
                vx, vy = (w * (a - mx) ** 2).sum(), (w * (b - my) ** 2).sum()
                cxy = (w * (a - mx) * (b - my)).sum()
                vals.append((2 * mx * my + C1) * (2 * cxy + C2) / ((mx ** 2 + my ** 2 + C1) * (vx + vy + C2)))
    return float(np.mean(vals))


def test_identical_images():
    x, _ = _pair((2, 3, 16, 16))
    assert torch.allclose(ssim(x, x), torch.ones(2, dtype=torch.float64), rtol=0, atol=1e-12)
    assert torch.isinf(psnr(x, x)).all()


@pytest.mark.parametrize("a, b", [(0.2, 0.7), (0.0, 1.0), (0.5, 0.5)])
def test_constant_images_closed_form(a, b):
    """Constant images: no variance, so SSIM = (2ab + C1) / (a^2 + b^2 + C1) (a, b in [0, 1]);
    PSNR = -20 log10 |a - b|."""
    x = torch.full((1, 3, 12, 14), 2 * a - 1, dtype=torch.float64)
    y = torch.full((1, 3, 12, 14), 2 * b - 1, dtype=torch.float64)
    assert float(ssim(x, y)) == pytest.approx((2 * a * b + C1) / (a * a + b * b + C1), rel=1e-12)
    expected = math.inf if a == b else -20 * math.log10(abs(a - b))
    assert float(psnr(x, y)) == pytest.approx(expected, rel=1e-12)


def test_symmetric_and_batched():
    x, y = _pair((3, 3, 13, 17), seed=1)
    assert torch.allclose(ssim(x, y), ssim(y, x), rtol=1e-12, atol=0)
    assert torch.allclose(psnr(x, y), psnr(y, x), rtol=1e-12, atol=0)
    one = torch.stack([ssim(x[i], y[i])[0] for i in range(3)])  # (C, H, W) images work and rows are independent
    assert torch.allclose(ssim(x, y), one, rtol=1e-12, atol=0)
    assert (ssim(x, y) < 1).all() and (ssim(x, y) > -1).all()


@pytest.mark.parametrize("shape", [(1, 12, 13), (3, 15, 11)])
def test_matches_explicit_sums(shape):
    x, y = _pair(shape, seed=2)
    assert float(ssim(x, y)) == pytest.approx(_ssim_by_explicit_sums(x.numpy(), y.numpy()), rel=1e-10)


def test_psnr_is_mse_on_unit_images():
    x, y = _pair((2, 3, 5, 5), seed=3)
    mse = (((x + 1) / 2 - (y + 1) / 2) ** 2).flatten(1).mean(1)
    assert torch.allclose(psnr(x, y), -10 * torch.log10(mse), rtol=1e-12, atol=0)


def test_matches_scikit_image():
    from skimage import metrics  # in the test extra: a missing scikit-image fails here, it is not skipped
    x, y = _pair((3, 20, 24), seed=4)
    ref = metrics.structural_similarity(((x + 1) / 2).numpy(), ((y + 1) / 2).numpy(), channel_axis=0,
                                        gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                        data_range=1.0)
    assert float(ssim(x, y)) == pytest.approx(ref, rel=1e-9)
    ref_psnr = metrics.peak_signal_noise_ratio(((x + 1) / 2).numpy(), ((y + 1) / 2).numpy(), data_range=1.0)
    assert float(psnr(x, y)) == pytest.approx(ref_psnr, rel=1e-9)


@pytest.mark.parametrize("x, y, match", [
    (torch.zeros(3, 10, 12), torch.zeros(3, 10, 12), "at least 11 x 11 pixels .* got 10 x 12"),
    (torch.zeros(3, 12, 12), torch.zeros(1, 12, 12), "same shape"),
    (torch.zeros(12, 12), torch.zeros(12, 12), "x must be a floating-point"),
    (torch.zeros(1, 12, 12, dtype=torch.int64), torch.zeros(1, 12, 12), "x must be a floating-point"),
])
def test_bad_inputs(x, y, match):
    with pytest.raises(InputError, match=match):
        ssim(x, y)
