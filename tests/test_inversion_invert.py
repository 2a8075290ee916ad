"""ganmetric.inversion.invert: closed-form recovery on a linear generator, the basis as a pure
reparametrisation under gradient descent, restart independence, determinism and errors."""
from __future__ import annotations

import io
import math

import pytest
import torch

import ganmetric
from ganmetric.distances.base import FeatureDistance, FunctionDistance
from ganmetric.errors import GanmetricError, InputError
from ganmetric.inversion import (initial_codes, invert, loss_curve_png, prepare_inversion, run_inversion,
                                 side_by_side_png, ssim)
from helpers import LinearGenerator, TinyConvGenerator

N = 6


@pytest.fixture(scope="module")
def linear():
    """G(z) = A z on 1x4x4 images, scaled so that the target G(z*) lies in [-1, 1]."""
    g = torch.Generator().manual_seed(0)
    A = torch.randn(16, N, generator=g, dtype=torch.float64)
    z_star = torch.randn(N, generator=g, dtype=torch.float64)
    A = A * 0.9 / (A @ z_star).abs().max()
    G = LinearGenerator(A)
    return G, z_star, G(z_star[None])[0]


@pytest.fixture(scope="module")
def tiny():
    return TinyConvGenerator(n=8, seed=1, res=8).double()


def _rotation(n, seed=3):
    g = torch.Generator().manual_seed(seed)
    return torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))[0]


@pytest.mark.parametrize("basis", ["none", "rotation", "metric", "metric-scaled"])
def test_linear_recovers_z_star(linear, basis):
    G, z_star, target = linear
    kwargs = {}
    if basis == "rotation":
        kwargs["basis"] = _rotation(N)
    elif basis.startswith("metric"):
        D = ganmetric.load_distance("mse", dtype="float64")
        kwargs["basis"] = ganmetric.metric_tensor(G, D, z_star)
        kwargs["eigval_power"] = 0.5 if basis == "metric-scaled" else 0.0
    res = invert(G, target, "mse", steps=400, lr=0.05, restarts=2, seed=0, **kwargs)
    assert torch.allclose(res.z, z_star, atol=1e-6), (res.z - z_star).abs().max()
    assert res.loss < 1e-12
    assert res.image.shape == (1, 4, 4) and res.losses.shape == (2, 400) and res.codes.shape == (2, N)
    # the loss decreases: the last recorded loss is far below the first, for every restart
    assert (res.losses[:, -1] < 1e-6 * res.losses[:, 0]).all()


def test_orthonormal_basis_with_gradient_descent_gives_the_same_trajectory(linear, tiny):
    """z = z0 + U c with U orthogonal: c -= lr U^T g  <=>  z -= lr g, step for step."""
    for G, target in ((linear[0], linear[2]), (tiny, tiny(torch.zeros(1, 8, dtype=torch.float64))[0].detach())):
        U = _rotation(G.latent_dim)
        for steps in (1, 9):
            plain = invert(G, target, "mse", optimizer="sgd", lr=0.3, steps=steps, restarts=3, seed=4)
            rot = invert(G, target, "mse", basis=U, optimizer="sgd", lr=0.3, steps=steps, restarts=3, seed=4)
            assert torch.allclose(plain.codes, rot.codes, rtol=0, atol=1e-12)
            assert torch.allclose(plain.losses, rot.losses, rtol=1e-10, atol=0)


def test_adam_is_not_rotation_invariant(linear):
    """The reason the basis matters: the same rotation changes Adam's path."""
    G, _, target = linear
    plain = invert(G, target, "mse", steps=5, lr=0.1, restarts=1, seed=0)
    rot = invert(G, target, "mse", basis=_rotation(N), steps=5, lr=0.1, restarts=1, seed=0)
    assert (plain.codes - rot.codes).abs().max() > 1e-3


def test_scaled_basis_gradient_step_closed_form(linear):
    """One SGD step in z = z0 + B c, B = U diag(s): z1 = z0 - lr B B^T grad, grad = 2 A^T (A z0 - x) / N."""
    G, z_star, target = linear
    D = ganmetric.load_distance("mse", dtype="float64")
    metric = ganmetric.metric_tensor(G, D, z_star)
    z0 = initial_codes(N, 1, 0)[0]
    res = invert(G, target, "mse", basis=metric, eigval_power=1.0, optimizer="sgd", lr=0.01, steps=1,
                 restarts=1, seed=0)
    A, x = G.A, target.reshape(-1)
    grad = 2 * A.T @ (A @ z0 - x) / x.numel()
    lam = metric.eigvals.clamp_min(1e-6 * metric.eigvals.max())
    B = metric.eigvecs * (lam / lam.max()) ** -1.0
    assert torch.allclose(res.codes[0], z0 - 0.01 * B @ (B.T @ grad), atol=1e-12)


def test_restarts_independent_and_reproducible(tiny):
    target = tiny(torch.full((1, 8), 0.3, dtype=torch.float64))[0].detach()
    kw = dict(steps=15, lr=0.05, seed=7, pixel_weight=0.5, pixel_loss="l1")
    two = invert(tiny, target, "mse", restarts=2, **kw)
    five = invert(tiny, target, "mse", restarts=5, **kw)
    assert torch.allclose(two.codes, five.codes[:2], rtol=0, atol=1e-10)
    assert torch.allclose(two.losses, five.losses[:2], rtol=1e-9, atol=0)
    again = invert(tiny, target, "mse", restarts=5, **kw)
    # bitwise: the same call repeated
    assert torch.equal(again.codes, five.codes) and torch.equal(again.losses, five.losses)
    assert again.best_restart == five.best_restart and again.loss == five.loss
    other = invert(tiny, target, "mse", restarts=2, **{**kw, "seed": 8})
    assert not torch.allclose(other.codes, two.codes)
    # the reported best is the restart with the lowest final loss, and its image is G(z)
    assert five.loss == float(five.final_losses.min())
    assert torch.allclose(five.image, tiny(five.z[None])[0], atol=1e-12)
    # the loss decreases over the steps for every restart
    assert (five.final_losses < five.losses[:, 0]).all()


def test_initial_codes_do_not_depend_on_the_number_of_restarts():
    assert torch.equal(initial_codes(5, 2, 3), initial_codes(5, 6, 3)[:2])  # bitwise: the same seeded draws
    assert initial_codes(5, 1, -1).shape == (1, 5)  # negative seeds are fine too
    assert not torch.equal(initial_codes(5, 1, 3), initial_codes(5, 1, 4))


def test_caller_tensors_untouched_and_z_init(linear):
    G, z_star, target = linear
    t, z_init = target.clone(), torch.zeros(N, dtype=torch.float64)
    res = invert(G, t, "mse", steps=3, restarts=2, z_init=z_init)
    assert torch.equal(t, target) and torch.equal(z_init, torch.zeros(N, dtype=torch.float64))
    assert torch.allclose(res.codes[0], res.codes[1])  # both restarts start at the given code
    assert res.settings["z_init"] == "given"


def test_feature_form_and_plain_distance_give_the_same_losses(tiny):
    """With a feature form the target's features are computed once; same numbers as calling d(x, y)."""
    phi = lambda x: torch.tanh(2 * x).flatten(1)
    by_features = FeatureDistance(phi)
    by_call = FunctionDistance(lambda x, y: (phi(x) - phi(y)).pow(2).sum(1))
    target = tiny(torch.zeros(1, 8, dtype=torch.float64))[0].detach()
    a = invert(tiny, target, by_features, steps=4, restarts=2, pixel_weight=0.1, pixel_loss="mse")
    b = invert(tiny, target, by_call, steps=4, restarts=2, pixel_weight=0.1, pixel_loss="mse")
    assert torch.allclose(a.losses, b.losses, rtol=1e-12) and torch.allclose(a.codes, b.codes, atol=1e-12)


def test_pixel_only_loss(linear):
    G, z_star, target = linear
    res = invert(G, target, None, pixel_weight=1.0, pixel_loss="mse", steps=400, lr=0.05, restarts=1)
    assert torch.allclose(res.z, z_star, atol=1e-6)
    assert res.settings["distance"] is None


@pytest.mark.parametrize("kwargs, match", [
    (dict(basis=torch.eye(N + 1, dtype=torch.float64)), r"basis .* must have shape \(6, k\)"),
    (dict(basis=torch.ones(N, dtype=torch.float64)), r"must have shape \(6, k\)"),
    (dict(basis=torch.full((N, N), float("nan"))), "NaN"),
    (dict(basis=torch.eye(N), eigval_power=0.5), "needs eigenvalues"),
    (dict(eigval_power=0.5), "needs a basis"),
    (dict(basis=torch.eye(N), basis_k=N + 1), "basis_k must be"),
    (dict(basis_k=3), "basis_k=3 needs a basis"),
    (dict(lr=float("nan")), "lr must be a finite number"),
    (dict(pixel_weight=-0.5), "pixel_weight must be a finite number >= 0, got -0.5"),
    (dict(chunk=0), "chunk must be at least 1"),
    (dict(true_z=torch.zeros(2, N)), "true_z must be one code of size 6, got 2 codes"),
    (dict(true_z=torch.zeros(N + 1)), r"true_z must have shape \(6,\)"),
    (dict(box=(0, 0, 2, 2)), "box applies to an image file target"),
    (dict(basis="nowhere.npz"), "basis file not found"),
    (dict(steps=0), "steps must be at least 1"),
    (dict(restarts=1.5), "restarts must be an integer"),
    (dict(lr=-1), "lr must be a finite number > 0, got -1"),
    (dict(optimizer="lbfgs"), "optimizer 'lbfgs' is not one of"),
    (dict(pixel_loss="l2"), "pixel_loss 'l2' is not one of"),
    (dict(distance_weight=0.0), "the loss is empty"),
    (dict(z_init=torch.zeros(3, N + 1)), r"z_init must have shape"),
    (dict(z_init=torch.zeros(3, N), restarts=2), "z_init must have 1 or restarts=2 rows"),
])
def test_bad_options_raise_input_error(linear, kwargs, match):
    G, _, target = linear
    with pytest.raises(InputError, match=match):
        invert(G, target, "mse", **{"steps": 2, **kwargs})


@pytest.mark.parametrize("target, match", [
    (torch.zeros(4, 4, 4), r"must have shape \(1, 4, 4\) .* got \(4, 4, 4\)"),
    (torch.zeros(1, 8, 8), r"got \(1, 8, 8\)"),
    (torch.zeros(2, 1, 4, 4), r"got \(2, 1, 4, 4\)"),
    (torch.full((1, 4, 4), 2.0), r"must lie in \[-1, 1\]"),
    (torch.full((1, 4, 4), float("nan")), "NaN"),
    (torch.zeros(1, 4, 4, dtype=torch.int64), "floating-point"),
    ([0.0] * 16, "image path or a"),
])
def test_bad_targets_raise_input_error(linear, target, match):
    with pytest.raises(InputError, match=match):
        invert(linear[0], target, "mse", steps=1)


def test_distance_dtype_must_match(linear):
    lpips32 = FeatureDistance(torch.nn.Linear(16, 3).requires_grad_(False))  # float32 parameters
    with pytest.raises(InputError, match="the distance is float32 but the generator is float64"):
        invert(linear[0], linear[2], lpips32, steps=1)


def test_divergence_is_an_error(linear):
    G, _, target = linear
    with pytest.raises(GanmetricError, match="diverged"):
        invert(G, target, "mse", optimizer="sgd", lr=1e9, steps=60, restarts=1)


def _max_batch(G, run):
    """Run ``run()`` and return the largest batch of codes G was called with."""
    sizes = []
    handle = G.register_forward_hook(lambda module, inputs, output: sizes.append(inputs[0].shape[0]))
    try:
        out = run()
    finally:
        handle.remove()
    return out, max(sizes)


def test_chunked_restarts_equal_one_batch(tiny):
    """Issue 9: restarts run in chunks of ``chunk`` (memory bounded by the chunk, not by restarts), and
    the result does not depend on the chunking: same codes, losses and best restart, to float64 rounding
    (1e-12 absolute on codes of size ~1, 1e-10 relative on losses)."""
    target = tiny(torch.full((1, 8), -0.2, dtype=torch.float64))[0].detach()
    kw = dict(steps=12, lr=0.05, seed=3, restarts=5, pixel_weight=0.3)
    whole, biggest = _max_batch(tiny, lambda: invert(tiny, target, "mse", chunk=5, **kw))
    assert biggest == 5
    for chunk in (1, 2, 3):
        part, biggest = _max_batch(tiny, lambda: invert(tiny, target, "mse", chunk=chunk, **kw))
        assert biggest == chunk  # the generator never sees more codes at once than one chunk
        assert torch.allclose(part.codes, whole.codes, rtol=0, atol=1e-12)
        assert torch.allclose(part.losses, whole.losses, rtol=1e-10, atol=0)
        assert torch.allclose(part.final_losses, whole.final_losses, rtol=1e-10, atol=0)
        assert part.best_restart == whole.best_restart and part.settings["chunk"] == chunk
    default, biggest = _max_batch(tiny, lambda: invert(tiny, target, "mse", **{**kw, "restarts": 70}))
    assert biggest == 64  # DEFAULT_CHUNK
    assert torch.allclose(default.codes[:5], whole.codes, rtol=0, atol=1e-12)  # restarts stay independent


def test_chunked_restarts_with_given_start_codes_and_a_basis(linear):
    G, z_star, target = linear
    z_init = initial_codes(N, 4, 11) * 0.5
    kw = dict(steps=6, lr=0.1, restarts=4, z_init=z_init, basis=_rotation(N)[:, :4])
    whole = invert(G, target, "mse", chunk=4, **kw)
    part = invert(G, target, "mse", chunk=3, **kw)
    assert torch.allclose(part.codes, whole.codes, rtol=0, atol=1e-12)
    assert torch.allclose(part.losses, whole.losses, rtol=1e-10, atol=0)


def test_huge_restarts_are_refused_up_front_with_an_estimate(linear):
    """Issue 9: `invert --restarts 100000` was killed by the kernel; what cannot be chunked (the loss
    history kept for every restart) is estimated and refused before any work: 10^8 restarts x (500 steps
    + 2 x 6 coordinates + 1) x 8 bytes = 382.2 GiB."""
    with pytest.raises(InputError, match=r"^restarts 100000000 with steps 500 would keep 382\.2 GiB of per-restart "
                                         r"results .* more than the 4 GiB allowed: lower it or steps$"):
        invert(linear[0], linear[2], "mse", restarts=10 ** 8, steps=500)


def test_fit_reports_distance_psnr_ssim_and_the_known_code(linear, tiny):
    """Issue 9: the summary reports the fit's distance (here the loss itself: mse, weight 1), PSNR and
    SSIM, and with true_z the cosine similarity and L2 distance to it."""
    G, z_star, target = linear
    res = invert(G, target, "mse", steps=3, lr=0.05, restarts=2, true_z=-z_star)
    fit = res.fit
    assert fit["distance_name"] == "mse" and fit["distance"] == pytest.approx(res.loss, rel=1e-12)
    mse01 = float((((res.image + 1) / 2 - (target + 1) / 2) ** 2).mean())
    assert fit["psnr_db"] == pytest.approx(-10 * math.log10(mse01), rel=1e-12)
    assert fit["ssim"] is None  # 4 x 4 images: smaller than SSIM's 11 x 11 window
    z = res.z.double()
    assert fit["true_z_cosine"] == pytest.approx(float(-z @ z_star / (z.norm() * z_star.norm())), rel=1e-12)
    assert fit["true_z_l2"] == pytest.approx(float((z + z_star).norm()), rel=1e-12)
    assert res.summary()["fit"] == fit
    exact = invert(G, target, "mse", steps=400, lr=0.05, restarts=1, true_z=z_star)
    assert exact.fit["true_z_cosine"] == pytest.approx(1.0, abs=1e-9) and exact.fit["true_z_l2"] < 1e-6
    big = TinyConvGenerator(n=8, seed=1, res=16).double()
    t16 = big(torch.zeros(1, 8, dtype=torch.float64))[0].detach()
    res16 = invert(big, t16, None, pixel_weight=1.0, steps=2, restarts=1)
    assert res16.fit["ssim"] == pytest.approx(float(ssim(res16.image, t16)), rel=1e-12)
    assert res16.fit["distance"] is None and res16.fit["true_z_l2"] is None
    zero = invert(G, target, "mse", steps=2, restarts=1, true_z=torch.zeros(N))
    assert zero.fit["true_z_cosine"] is None  # undefined for a zero code
    assert zero.fit["true_z_l2"] == pytest.approx(float(zero.z.double().norm()), rel=1e-12)
    assert side_by_side_png(zero)[:4] == b"\x89PNG"


def test_basis_label_says_which_basis(linear, tmp_path):
    G, z_star, target = linear
    assert invert(G, target, "mse", steps=1, restarts=1).basis_label == "none"
    res = invert(G, target, "mse", basis=_rotation(N), basis_k=4, steps=1, restarts=1)
    assert res.basis_label == "matrix (6, 6), k=4, eigval power 0"


def test_prepare_checks_everything_before_running(linear):
    """prepare_inversion validates (and loads) without optimising; run_inversion gives invert's numbers."""
    G, z_star, target = linear
    calls = []
    handle = G.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape[0]))
    try:
        problem = prepare_inversion(G, target, "mse", steps=5, restarts=3, seed=2)
    finally:
        handle.remove()
    assert calls == [1]  # one code, to learn the image shape
    res = run_inversion(problem)
    ref = invert(G, target, "mse", steps=5, restarts=3, seed=2)
    assert torch.equal(res.codes, ref.codes) and torch.equal(res.losses, ref.losses)


def test_plots_use_no_pyplot_and_leave_the_backend_alone(linear, monkeypatch):
    """Issue 10: figures are drawn on Agg-canvas Figures; matplotlib.use and pyplot are never touched."""
    import sys

    import matplotlib
    from PIL import Image

    G, z_star, target = linear
    res = invert(G, target, "mse", steps=3, restarts=25)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)  # importing pyplot now fails
    monkeypatch.setattr(matplotlib, "use", lambda *a, **k: pytest.fail("matplotlib.use was called"))
    for png in (side_by_side_png(res), loss_curve_png(res)):
        assert Image.open(io.BytesIO(png)).format == "PNG"
