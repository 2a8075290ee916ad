"""A finite-difference oracle that shares no code with the engine, for every method and model family.

For a unit vector v, ``f(t) = d(G(z0), G(z0 + t v)) = t^2 v^T H v / 2 + c3 t^3 + c4 t^4 + ...``
(the distance has its minimum at t = 0). The symmetric quotient ``q(t) = (f(t) + f(-t)) / t^2``
cancels the odd terms, ``q(t) = v^T H v + 2 c4 t^2 + O(t^4)``, and two Richardson steps over
t, t/2, t/4 cancel the t^2 and t^4 terms. Only forward passes of G and D are used: no
autograd, no ganmetric.hessian, no Lanczos.

Steps and tolerance, in float64: at t0 = 2e-5 the rounding of d (differences of images
~t apart) puts the estimate within ~1e-10 lambda_1 of v^T H v (measured <= 3e-10 lambda_1 over
every family and distance here, at steps from 1e-5 to 3e-4). The steps are that small
because the DCGANs, BigGAN and StyleGAN2 have (leaky) ReLUs: a kink crossed inside a step
of 1e-3 showed as errors up to 1e-4 lambda_1 (BigGAN); at 2e-5 none is crossed at these
seeded weights and points (see ``_smooth_lpips_alex`` for the distance's kinks).
``RTOL = 1e-6`` (relative to lambda_1) keeps three orders above the oracle's error and far
below what a wrong product, a wrong eigenvector or a missing factor 2 would give (order 1).

What is compared, fairly for each kind of method:
- full methods (the whole spectrum): ``v^T U diag(l) U^T v`` for the top eigenvector and
  random v, so both the eigenvalues and the eigenvectors are checked.
- top-k methods (U: n x k): for v = U c in the span, ``sum c_i^2 l_i``; for u_1 and a unit w
  orthogonal to the span, ``u_1^T H w = (q(u_1 + w) - q(u_1 - w)) / 4 = 0`` (the span is
  invariant) and ``w^T H w <= l_k`` (it is the top of the spectrum).
"""
from __future__ import annotations

import sys
import textwrap
import warnings

import pytest
import torch

import ganmetric
from ganmetric.generators.dcgan import ConditionalDCGANGenerator, DCGANGenerator
from helpers import randomize_
from helpers_models import rosinality_state, small_biggan

T0 = 2e-5
RTOL = 1e-6
K = 3

#: method name, k, extra options. forward-iter runs with a step far below its 1e-3 default,
#: so that its own finite differences of gradients are accurate (~1e-10) and cross no kink,
#: and with a Lanczos tolerance its non-symmetric rounding can reach.
METHODS = {
    "jacobian": ("jacobian", None, {}),
    "bp": ("bp", None, {}),
    "fwd-over-rev": ("fwd-over-rev", None, {}),
    "fwd-over-rev-topk": ("fwd-over-rev", K, {}),
    "gn-lanczos": ("gn-lanczos", K, {}),
    "backward-iter": ("backward-iter", K, {}),
    "forward-iter": ("forward-iter", K, {"eps": 1e-6, "tol": 1e-7}),
}

CUSTOM_MODULE = textwrap.dedent('''
    from torch import nn


    def make():
        """A user's generator: MLP with GELU, a convolution, sigmoid output in [0, 1]."""
        return nn.Sequential(nn.Linear(6, 48), nn.GELU(), nn.Linear(48, 3 * 8 * 8), nn.Unflatten(1, (3, 8, 8)),
                             nn.Conv2d(3, 3, 3, padding=1), nn.Sigmoid())
''')


def _tiny_dcgan():
    return randomize_(DCGANGenerator(name="tiny-dcgan", nz=8, ngf=4, nc=3, resolution=16), seed=0)


def _tiny_cdcgan():
    return randomize_(ConditionalDCGANGenerator(name="tiny-cdcgan", nz=8, n_classes=3, class_names=("a", "b", "c"),
                                                class_name="b", ngf=4, resolution=16), seed=1)


def _tiny_biggan():
    pytest.importorskip("pytorch_pretrained_biggan")
    from ganmetric.generators.biggan import BigGANGenerator
    return BigGANGenerator(small_biggan(), name="tiny-biggan", latent_space="full", class_index=3, truncation=0.5)


def _tiny_stylegan2(space, folder):
    path = folder / "sg2.pt"
    if not path.exists():
        torch.save({"g_ema": rosinality_state(channels={4: 8, 8: 4}, seed=3),
                    "latent_avg": torch.randn(16, generator=torch.Generator().manual_seed(2))}, path)
    return ganmetric.load_generator("stylegan2", weights=str(path), latent_space=space, dtype="float64")


def _custom(folder):
    """Loaded as a user would (``module:factory`` plus a weights file), from a module written to ``folder``."""
    (folder / "gm_fd_oracle_net.py").write_text(CUSTOM_MODULE)
    namespace = {}
    exec(CUSTOM_MODULE, namespace)
    torch.save(randomize_(namespace["make"](), seed=4, scale=0.4).state_dict(), folder / "net.pt")
    sys.path.insert(0, str(folder))
    try:
        return ganmetric.load_generator("gm_fd_oracle_net:make", weights=str(folder / "net.pt"), latent_dim=6,
                                        output_range="0,1", dtype="float64")
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("gm_fd_oracle_net", None)


#: A covering set, not the 7 x 2 x 7 cross product (98 cases, 77 of them slow): every method on two
#: (family, distance) pairs, one per distance; every family on jacobian and gn-lanczos (the full Gram and the
#: top-k Gauss-Newton products, the two ways a family's forward mode and pullback are used), both distances
#: spread over the families. A method's products do not depend on the family (they see only G's jvp and vjp),
#: and a family's forward and backward modes are all that the methods use of it.
EVERY_METHOD = [("dcgan", "mse"), ("stylegan2-w", "lpips-alex")]
EVERY_FAMILY = {"cdcgan": "lpips-alex", "biggan": "mse", "stylegan2-z": "lpips-alex", "stylegan2-w+": "mse",
                "custom": "lpips-alex", "dcgan": "lpips-alex", "stylegan2-w": "mse"}


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    """Builds each family once per module (float64, eval mode)."""
    cache = {}

    def build(name):
        if name not in cache:
            folder = tmp_path_factory.mktemp(name.replace("+", "plus"))
            builders = {"dcgan": _tiny_dcgan, "cdcgan": _tiny_cdcgan, "biggan": _tiny_biggan,
                        "custom": lambda: _custom(folder)}
            G = (_tiny_stylegan2(name.split("-", 1)[1], folder) if name.startswith("stylegan2")
                 else builders[name]())
            cache[name] = G.double()
        return cache[name]

    return build


def _smooth_lpips_alex():
    """lpips-alex with a random backbone drawn from a fixed seed, its ReLUs and max-pools made smooth.

    Everything that makes it LPIPS stays (scaling layer, unit-normalised channel features,
    the real non-negative linear heads, spatial means, resizing to 32 px: the smallest side
    AlexNet's pools take). The kinks go because a random backbone's kinks sit wherever its
    draw puts them: one draw in the suite's order put one inside the oracle's 2e-5 step
    (an error of 6e-6 lambda_1). The real ReLU backbone is checked against the dense float64
    reference (autograd, exact at kinks) in test_hessian_metric.py.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        D = ganmetric.load_distance("lpips-alex", lpips_backbone="random", resize=32, dtype="float64")
    for stage in D.lpips.net.children():
        for name, layer in list(stage.named_children()):
            if isinstance(layer, torch.nn.ReLU):
                setattr(stage, name, torch.nn.Softplus(beta=10))
            elif isinstance(layer, torch.nn.MaxPool2d):
                setattr(stage, name, torch.nn.AvgPool2d(layer.kernel_size, layer.stride))
    return D.double()


@pytest.fixture(scope="module")
def distance():
    cache = {}

    def build(spec):
        if spec not in cache:
            cache[spec] = (_smooth_lpips_alex() if spec == "lpips-alex"
                           else ganmetric.load_distance(spec, dtype="float64"))
        return cache[spec]

    return build


def fd_quadratic(G, D, z0: torch.Tensor, V: torch.Tensor, t0: float = T0) -> torch.Tensor:
    """Estimates of ``v^T H v`` for the rows v of V (m, n), from values of d only.

    One batched forward pass of G and D over z0 + s t v (s = +-1, t = t0, t0/2, t0/4);
    symmetric quotients, then Richardson extrapolation in t^2 twice.
    """
    ts = (t0, t0 / 2, t0 / 4)
    with torch.no_grad():
        x0 = G(z0[None])
        Z = torch.cat([z0 + s * t * V for t in ts for s in (1.0, -1.0)])
        d = D(x0.expand(Z.shape[0], *x0.shape[1:]), G(Z)).reshape(len(ts), 2, V.shape[0])
    q = [(d[i, 0] + d[i, 1]) / t ** 2 for i, t in enumerate(ts)]
    r = [(4 * q[i + 1] - q[i]) / 3 for i in range(2)]  # the t^2 term cancels
    return (16 * r[1] - r[0]) / 15                      # the t^4 term cancels


def _unit_rows(m, n, seed, basis=None):
    """m random unit vectors (m, n), orthogonal to the columns of ``basis`` if given."""
    V = torch.randn(m, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    if basis is not None:
        V = V - (V @ basis) @ basis.T
    return V / V.norm(dim=1, keepdim=True)


def _cases():
    cases = [(fam, dist, method) for fam, dist in EVERY_METHOD for method in METHODS]
    cases += [(fam, dist, method) for fam, dist in EVERY_FAMILY.items() for method in ("jacobian", "gn-lanczos")]
    for fam, dist, method in cases:  # all in the fast tier: 8 s of CPU together
        yield pytest.param(fam, dist, method, id=f"{fam}-{dist}-{method}")


@pytest.mark.filterwarnings("error::ganmetric.errors.NumericalWarning")
@pytest.mark.parametrize("fam, dist, method", list(_cases()))
def test_metric_matches_finite_differences(family, distance, fam, dist, method):
    G, D = family(fam), distance(dist)
    z0 = G.sample(1, seed=0)[0]
    name, k, options = METHODS[method]
    res = ganmetric.metric_tensor(G, D, z0, method=name, k=k, **options)
    U, lam = res.eigvecs, res.eigvals
    n, lam1 = G.latent_dim, float(lam[0])
    assert lam1 > 0
    if k is None:  # the whole spectrum: U diag(l) U^T against v^T H v
        V = torch.cat([U[:, :1].T, _unit_rows(3, n, seed=11)])
        predicted = ((V @ U) ** 2 * lam).sum(1)
        torch.testing.assert_close(fd_quadratic(G, D, z0, V), predicted, rtol=0, atol=RTOL * lam1)
        return
    C = _unit_rows(2, k, seed=12)
    W = _unit_rows(1, n, seed=13, basis=U)
    u1 = U[:, 0][None]
    V = torch.cat([C @ U.T, W, u1 + W, u1 - W])
    fd = fd_quadratic(G, D, z0, V)
    torch.testing.assert_close(fd[:2], (C ** 2 * lam).sum(1), rtol=0, atol=RTOL * lam1)  # in the span
    assert abs(float(fd[3] - fd[4]) / 4) <= RTOL * lam1                                 # u_1^T H w = 0
    assert float(fd[2]) <= float(lam[-1]) + RTOL * lam1                                 # w^T H w <= l_k


def test_oracle_is_exact_on_a_closed_form():
    """The oracle itself, on G(z) = A z with mse (H = 2 A^T A / N): it needs no engine to be checked."""
    from helpers import LinearGenerator
    A = torch.randn(16, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    G, D = LinearGenerator(A), ganmetric.load_distance("mse", dtype="float64")
    V = _unit_rows(4, 5, seed=1)
    H = 2 * A.T @ A / 16
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fd = fd_quadratic(G, D, torch.ones(5, dtype=torch.float64), V)
    torch.testing.assert_close(fd, torch.einsum("mi,ij,mj->m", V, H, V), rtol=1e-8, atol=0)
