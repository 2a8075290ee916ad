"""Layers written for the cold start: the same numbers as the plain ops (that a first metric imports no
torch._dynamo: tests/test_hessian_cold_start.py)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganmetric.generators.fast_layers import (ConvLinear, EqualizedConv2d, Folded, add_constant, channel_affine,
                                               linear, pixel_norm)


def test_conv_linear_is_the_linear_map_times_its_gain():
    g = torch.Generator(device="cpu").manual_seed(0)
    layer = ConvLinear(7, 5, gain=0.3).double()
    x = torch.randn(4, 7, generator=g, dtype=torch.float64)
    assert isinstance(layer, torch.nn.Linear) and set(layer.state_dict()) == {"weight", "bias"}
    torch.testing.assert_close(layer(x), 0.3 * F.linear(x, layer.weight, layer.bias), rtol=1e-12, atol=1e-12)
    conv = EqualizedConv2d(3, 4, 3, padding=1, gain=2.0).double()
    y = torch.randn(2, 3, 5, 5, generator=g, dtype=torch.float64)
    torch.testing.assert_close(conv(y), 2.0 * F.conv2d(y, conv.weight, conv.bias, padding=1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(3, 6), (2, 6, 4, 5)])
def test_pixel_norm_is_pggans_formula(shape):
    x = torch.randn(*shape, generator=torch.Generator(device="cpu").manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(pixel_norm(x), x * ((x ** 2).mean(dim=1, keepdim=True) + 1e-8).rsqrt(),
                               rtol=1e-12, atol=1e-12)


class Scaled(Folded):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.arange(1.0, 4.0))
        self.folds = 0

    def fold(self):
        self.folds += 1
        return (self.weight / 3,)

    def forward(self, x):
        return x * self.folded()[0]


def test_folds_once_and_again_when_a_tensor_changes():
    m = Scaled()
    x = torch.ones(3)
    assert torch.equal(m(x), torch.arange(1.0, 4.0) / 3) and m(x) is not None and m.folds == 1
    m.load_state_dict({"weight": torch.full((3,), 3.0)})  # copied in place: the version changes
    assert torch.equal(m(x), torch.ones(3)) and m.folds == 2
    with torch.no_grad():
        m.weight.mul_(2)
    assert torch.equal(m(x), torch.full((3,), 2.0)) and m.folds == 3
    m.double()  # refolded in the new dtype, from the tensors in that dtype
    assert m(x.double()).dtype == torch.float64 and m.folds == 4
    assert m.folded()[0].requires_grad is False


def test_ops_give_the_plain_values():
    g = torch.Generator().manual_seed(0)
    x, W, b = torch.randn(5, 7, generator=g), torch.randn(4, 7, generator=g), torch.randn(4, generator=g)
    assert torch.allclose(linear(x, W, b), F.linear(x, W, b), atol=1e-6)
    assert torch.equal(linear(x, W, None), F.linear(x, W))
    img, c = torch.randn(2, 3, 4, 4, generator=g), torch.randn(1, 3, 4, 4, generator=g)
    assert torch.equal(add_constant(img, c), img + c)
    s, t = torch.randn(3, generator=g), torch.randn(3, generator=g)
    assert torch.allclose(channel_affine(img, s, t), img * s[:, None, None] + t[:, None, None], atol=1e-6)


def test_truncate_is_the_truncation_trick():
    import pytest

    from ganmetric.errors import InputError
    from ganmetric.generators.fast_layers import truncate
    g = torch.Generator().manual_seed(1)
    w, c = torch.randn(3, 5, generator=g, dtype=torch.float64), torch.randn(5, generator=g, dtype=torch.float64)
    for psi in (0.3, 0.7, 1.5):
        assert torch.allclose(truncate(w, c, psi, centre_name="c"), c + psi * (w - c), rtol=0, atol=1e-14)
    assert truncate(w, None, 1.0, centre_name="c") is w
    with pytest.raises(InputError, match="truncation needs mean_style"):
        truncate(w, None, 0.7, centre_name="mean_style")


def test_fold_all_folds_now():
    from ganmetric.generators.fast_layers import fold_all
    m = nn.Sequential(Scaled(), nn.ReLU(), nn.Sequential(Scaled()))
    fold_all(m)
    assert m[0].folds == 1 and m[2][0].folds == 1
    m(torch.ones(3))
    assert m[0].folds == 1 and m[2][0].folds == 1  # the first call reuses the fold
