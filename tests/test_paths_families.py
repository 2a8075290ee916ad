"""Every generator family makes a geodesic: a few iterations lower the energy of the straight line
(the optimiser's line search only accepts decreases), the ends stay fixed, and the path measures."""
from __future__ import annotations

import warnings

import pytest
import torch

import ganmetric


def _check(G, D, *, optimizer="metric-lbfgs", points=4, max_iter=4):
    z = G.sample(2, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ganmetric.NumericalWarning)  # a few iterations do not converge
        path = ganmetric.geodesic(G, D, z[0], z[1], points=points, max_iter=max_iter, optimizer=optimizer)
    line = ganmetric.path_length(G, D, ganmetric.linear_path(z[0], z[1], points))
    assert path.codes.shape == (points, G.latent_dim)
    torch.testing.assert_close(path.codes[[0, -1]], z.cpu().to(path.codes.dtype), rtol=0, atol=0)
    assert path.energy < line.energy and path.iterations >= 1
    again = ganmetric.path_length(G, D, path.codes)
    assert again.length == pytest.approx(path.length, rel=1e-9)
    return path


def test_tiny_dcgan_like_generator():
    from helpers import TinyConvGenerator
    _check(TinyConvGenerator(n=8, res=16), ganmetric.load_distance("mse"))


def test_stylegan2_demo_in_z():
    G = ganmetric.load_generator("stylegan2-demo", latent_space="z")
    path = _check(G, ganmetric.load_distance("mse"))
    assert path.options["metric_method"] == "jacobian"


@pytest.mark.slow
@pytest.mark.parametrize("space,optimizer", [("w", "metric-lbfgs"), ("w+", "metric-lbfgs"), ("w+", "lbfgs")])
def test_stylegan2_demo_in_w_and_w_plus(space, optimizer):
    G = ganmetric.load_generator("stylegan2-demo", latent_space=space)
    path = _check(G, ganmetric.load_distance("mse"), optimizer=optimizer)
    if optimizer == "metric-lbfgs":  # n = 1280 in w+: the preconditioner uses the top 64 eigenpairs
        assert path.options["metric_method"] == ("gn-lanczos" if space == "w+" else "jacobian")


@pytest.mark.parametrize("space", ["noise", "full"])
def test_small_biggan(space):
    pytest.importorskip("pytorch_pretrained_biggan")
    from ganmetric.generators.biggan import BigGANGenerator
    from helpers_models import small_biggan
    G = BigGANGenerator(small_biggan(), name="tiny-biggan", latent_space=space, class_index=3, truncation=0.5)
    _check(G, ganmetric.load_distance("mse"))


@pytest.mark.slow
def test_dcgan_face_with_lpips(dcgan_face, lpips_random64):
    path = _check(dcgan_face, lpips_random64, points=5, max_iter=3)
    assert path.options["metric_method"] == "jacobian"
