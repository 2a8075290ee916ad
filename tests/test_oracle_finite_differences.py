"""A finite-difference oracle that shares no code with the engine, for every method and model family.

The oracle is :func:`ganmetric.testing.check_metric`: it compares what a method returns with
``v^T H v`` estimated from values of d alone (:func:`ganmetric.testing.quadratic_forms`:
symmetric quotients of ``d(G(z0), G(z0 +- t v))``, Richardson over t, t/2, t/4; no autograd, no
ganmetric.hessian, no Lanczos), at float64.

Steps and tolerance, in float64: at t0 = 2e-5 the rounding of d (differences of images
~t apart) puts the estimate within ~1e-10 lambda_1 of v^T H v (measured <= 3e-10 lambda_1 over
every family and distance here, at steps from 1e-5 to 3e-4). The steps are that small
because the DCGANs, BigGAN and StyleGAN2 have (leaky) ReLUs: a kink crossed inside a step
of 1e-3 showed as errors up to 1e-4 lambda_1 (BigGAN); at 2e-5 none is crossed at these
seeded weights and points (see ``_smooth_lpips_alex`` for the distance's kinks).
``RTOL = 1e-6`` (relative to lambda_1) keeps three orders above the oracle's error and far
below what a wrong product, a wrong eigenvector or a missing factor 2 would give (order 1).

What is compared, fairly for each kind of method (see ``check_metric``): full methods, the
whole spectrum against ``v^T H v`` for the top eigenvector and random v; top-k methods, v in
the span, the span's invariance (``u_1^T H w = 0`` for w outside it) and that it is the top
(``w^T H w <= l_k``). The oracle itself is checked on a closed form in test_testing.py.
"""
from __future__ import annotations

import textwrap

import pytest
import torch

import ganmetric
from ganmetric.generators.dcgan import ConditionalDCGANGenerator, DCGANGenerator
from ganmetric.testing import check_metric
from helpers import importable_from, randomize_
from helpers_models import rosinality_state, small_biggan

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
    with importable_from(folder, "gm_fd_oracle_net"):
        return ganmetric.load_generator("gm_fd_oracle_net:make", weights=str(folder / "net.pt"), latent_dim=6,
                                        output_range="0,1", dtype="float64")


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


def _cases():
    cases = [(fam, dist, method) for fam, dist in EVERY_METHOD for method in METHODS]
    cases += [(fam, dist, method) for fam, dist in EVERY_FAMILY.items() for method in ("jacobian", "gn-lanczos")]
    for fam, dist, method in cases:  # all in the fast tier: 8 s of CPU together
        yield pytest.param(fam, dist, method, id=f"{fam}-{dist}-{method}")


@pytest.mark.filterwarnings("error::ganmetric.errors.NumericalWarning")
@pytest.mark.parametrize("fam, dist, method", list(_cases()))
def test_metric_matches_finite_differences(family, distance, fam, dist, method):
    G, D = family(fam), distance(dist)
    name, k, options = METHODS[method]
    check = check_metric(G, D, G.sample(1, seed=0), method=name, k=k, rtol=RTOL, **options)
    assert check.method == name and float(check.result.eigvals[0]) > 0
    assert len(check.errors) == (4 if k is None else 5)  # each check ran
