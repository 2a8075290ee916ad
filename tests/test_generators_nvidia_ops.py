"""The plain-PyTorch operations of the NVIDIA networks against independent references (scipy, direct formulas)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ganmetric.generators.nvidia import ops


def _upfirdn_reference(x: np.ndarray, f: np.ndarray, up: int, down: int, pad, gain: float) -> np.ndarray:
    """NVIDIA's definition, one image at a time: insert zeros, pad (negative crops), full 2-D convolution kept
    where it covers the image, decimate. A 1-D filter is separable: its outer product."""
    import scipy.signal  # here, not at collection (every run's start)
    f2 = np.outer(f, f) if f.ndim == 1 else f
    f2 = f2 * gain
    x0, x1, y0, y1 = pad
    out = []
    for img in x.reshape(-1, *x.shape[-2:]):
        z = np.zeros((img.shape[0] * up, img.shape[1] * up))
        z[::up, ::up] = img
        z = np.pad(z, ((max(y0, 0), max(y1, 0)), (max(x0, 0), max(x1, 0))))
        z = z[max(-y0, 0):z.shape[0] - max(-y1, 0), max(-x0, 0):z.shape[1] - max(-x1, 0)]
        out.append(scipy.signal.convolve2d(z, f2, mode="valid")[::down, ::down])
    return np.stack(out).reshape(*x.shape[:-2], *out[0].shape)


FILTERS = {"2d-4x4": (4, 4), "2d-5x3": (5, 3), "sep-12": (12,), "sep-7": (7,), "sep-24": (24,)}
CASES = [(f, ud, pad) for f in ("2d-4x4", "2d-5x3", "sep-12", "sep-7")
         for ud in ((1, 1), (2, 1), (4, 1), (1, 2), (2, 2))
         for pad in ((0, 0, 0, 0), (9, 8, 9, 8), (-2, -1, 3, -3), (3, 2, 1, 4))]
CASES += [("sep-24", (4, 1), (-6, -9, -6, -9)), ("sep-24", (4, 1), (10, 13, 11, 12)), ("sep-12", (3, 1), (5, 4, 4, 5)),
          ("sep-12", (1, 2), (-6, -9, -6, -9))]


@pytest.mark.parametrize("filt, up_down, pad", CASES)
def test_upfirdn2d_matches_the_definition(filt, up_down, pad):
    up, down = up_down
    g = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(2, 3, 13, 11, generator=g, dtype=torch.float64, device="cpu")
    f = torch.randn(FILTERS[filt], generator=g, dtype=torch.float64, device="cpu")
    kh, kw = (f.shape[0], f.shape[0]) if f.dim() == 1 else f.shape
    if 13 * up + pad[2] + pad[3] < kh or 11 * up + pad[0] + pad[1] < kw:
        pytest.skip("the filter does not fit the padded image (NVIDIA refuses it too)")
    gain = float(up * up)
    ours = ops.upfirdn2d(x, f, up=up, down=down, padding=list(pad), gain=gain).numpy()
    ref = _upfirdn_reference(x.numpy(), f.numpy(), up, down, pad, gain)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12 * np.abs(ref).max())


def test_upfirdn2d_without_a_filter_pads_and_crops():
    x = torch.arange(12.0, device="cpu").reshape(1, 1, 3, 4)
    out = ops.upfirdn2d(x, None, padding=[1, -1, 0, 2])
    assert torch.equal(out, torch.nn.functional.pad(x, [1, -1, 0, 2]))


def test_the_constant_placing_ops_are_the_plain_formulas():
    g = torch.Generator(device="cpu").manual_seed(1)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64, device="cpu")  # noqa: E731
    x, W, b = r(5, 7), r(4, 7), r(4)
    torch.testing.assert_close(ops.affine(x, W, b), x @ W.T + b, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(ops.affine(x, W, None), x @ W.T, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(ops.mean_square(x, 1e-3), x.square().mean(1, keepdim=True) + 1e-3)
    torch.testing.assert_close(ops.normalize_2nd_moment(x), x * (x.square().mean(1, keepdim=True) + 1e-8).rsqrt())
    s, weight = r(5, 3), r(6, 3, 3, 3)
    per_sample = weight[None] * s[:, None, :, None, None]  # NVIDIA's modulated weights (N, O, I, k, k)
    torch.testing.assert_close(ops.demodulation(s, weight), (per_sample.square().sum((2, 3, 4)) + 1e-8).rsqrt())
    y, k = r(2, 3, 4, 4), r(1, 3, 4, 4)
    torch.testing.assert_close(ops.add_to_doubled(2 * y, k), y + k, rtol=1e-14, atol=1e-14)
    c = r(3, 4, 5)
    torch.testing.assert_close(ops.modulate_constant(c, s), c[None] * s[:, :, None, None], rtol=1e-14, atol=1e-14)
    for act, gain in (("linear", 1.0), ("relu", 2 ** 0.5), ("lrelu", 2 ** 0.5)):
        assert ops.ACTIVATIONS[act] == pytest.approx(gain)
    torch.testing.assert_close(ops.activate(x, "lrelu"), torch.where(x > 0, x, 0.2 * x))
