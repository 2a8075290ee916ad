"""metric_tensor against closed forms and an independent dense float64 Hessian."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ganmetric
from ganmetric import MetricResult
from ganmetric.hessian import Method, unused_options
from ganmetric.linalg import anisotropy_counts
from ganmetric.distances import FunctionDistance
from ganmetric.errors import InputError, NotDeterministicError, NumericalWarning
from ganmetric.generators.base import Generator
from ganmetric.testing import dense_hessian
from helpers import LinearGenerator, NoisyGenerator, TinyConvGenerator

#: the top-k methods, from the registry (the rest return the full H unless k is given)
TOPK = {name for name, m in ganmetric.METHODS.items() if m.kind == "top-k"}
EXACT = ["jacobian", "gn-lanczos", "fwd-over-rev", "bp", "backward-iter"]

# A solver that stops short warns NumericalWarning: here that fails the test, unless the test expects it.
pytestmark = pytest.mark.filterwarnings("error::ganmetric.errors.NumericalWarning")

#: largest relative error against the closed form H = 2 A^T A / N of a linear generator, per
#: method. Exact methods: float64 rounding of a 6 x 6 problem (measured <= 4e-16). forward-iter:
#: central differences of the gradient of a quadratic are exact but for rounding, ~1e-16 / (eps |z0|)
#: with eps = 1e-3 (measured 5e-14).
CLOSED_FORM_RTOL = {**{m: 1e-13 for m in EXACT + ["auto"]}, "forward-iter": 1e-11}

#: the same against the dense float64 autograd Hessian of a small conv net, per method. Exact
#: methods: rounding through the network (measured <= 1.1e-15 on all four distances).
DENSE_RTOL = {m: 1e-10 for m in EXACT}

#: forward-iter on that net (eps = 1e-4): (relative error bound, Lanczos tol). On mse the map is
#: smooth (softplus, tanh) and the O(e^2) error was 2e-6, so Lanczos converges to 1e-5. The LPIPS
#: backbones' ReLUs and max-pools put kinks inside the step: products off by ~1e-3 (measured
#: <= 1.4e-3), a residual that cannot reach the default 1e-10, and the NumericalWarning saying so.
FORWARD_ITER = {"mse": (1e-5, 1e-5), "lpips": (1e-2, None)}


def _rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


def _check_against(res, H_ref, k=None, tol=1e-6):
    ref_vals, ref_vecs = torch.linalg.eigh(H_ref)
    ref_vals, ref_vecs = ref_vals.flip(0), ref_vecs.flip(1)
    k = k or res.k
    assert _rel(res.eigvals[:k], ref_vals[:k]) <= tol
    if res.H is not None:
        assert _rel(res.H, H_ref) <= tol
    # each eigenvector matches up to sign where the eigenvalue is well separated
    inf = torch.full((1,), float("inf"), dtype=ref_vals.dtype, device=ref_vals.device)
    padded = torch.cat([inf, ref_vals, -inf])
    gaps = torch.minimum(padded[:k] - padded[1:k + 1], padded[1:k + 1] - padded[2:k + 2])
    separated = gaps > 1e-3 * ref_vals[0]
    overlap = (res.eigvecs[:, :k] * ref_vecs[:, :k]).sum(0).abs()
    assert torch.all(overlap[separated] > 1 - 1e-6)


@pytest.mark.parametrize("method", list(ganmetric.METHODS))
def test_linear_generator_closed_form(method, device):
    """G(z) = A z with mse: H = 2 A^T A / N, for every method."""
    g = torch.Generator().manual_seed(0)
    n, N = 6, 16
    A = torch.randn(N, n, generator=g, dtype=torch.float64)
    G = LinearGenerator(A).to(device)
    D = ganmetric.load_distance("mse", dtype="float64", device=device)
    z = torch.randn(n, generator=g, dtype=torch.float64)
    H_true = 2 * A.T @ A / N
    k = n if method in TOPK else None
    res = ganmetric.metric_tensor(G, D, z, method=method, k=k)
    assert res.eigvecs.shape == (n, n) and res.eigvals.shape == (n,)
    assert torch.all(res.eigvals[:-1] >= res.eigvals[1:])
    _check_against(res, H_true.to(device), tol=CLOSED_FORM_RTOL[method])


# Not VGG: the products do not depend on the backbone (it took 20 s here); test_distances.py checks VGG's features
@pytest.fixture(scope="module", params=["mse", "lpips-alex", "lpips-squeeze"])
def distance64(request):
    spec = request.param
    if spec == "mse":
        return ganmetric.load_distance(spec, dtype="float64")
    # "random" is the backbone drawn from seed 0: the same every run, whatever ran before.
    # alex also exercises resize; vgg and squeeze run at the generator's native 32 px (cheaper)
    return ganmetric.load_distance(spec, lpips_backbone="random", dtype="float64",
                                   **({"resize": 64} if spec == "lpips-alex" else {}))


@pytest.fixture(scope="module")
def tiny_conv(distance64):
    """The generator, the distance, a point and the dense float64 reference, once per distance."""
    G = TinyConvGenerator(n=6, seed=1, res=32).double()
    z = G.sample(1, seed=3)
    return G, distance64, z, dense_hessian(G, distance64, z)


@pytest.mark.parametrize("method", EXACT)
def test_tiny_conv_matches_dense_hessian(tiny_conv, method):
    G, D, z, H_ref = tiny_conv
    res = ganmetric.metric_tensor(G, D, z, method=method, k=4 if method in TOPK else None)
    _check_against(res, H_ref, tol=DENSE_RTOL[method])


def test_tiny_conv_forward_iter(tiny_conv):
    G, D, z, H_ref = tiny_conv
    rtol, tol = FORWARD_ITER["mse" if D.name == "mse" else "lpips"]
    if tol is None:
        with pytest.warns(NumericalWarning, match="did not converge"):
            fi = ganmetric.metric_tensor(G, D, z, method="forward-iter", k=3, eps=1e-4)
        assert not fi.converged
    else:
        fi = ganmetric.metric_tensor(G, D, z, method="forward-iter", k=3, eps=1e-4, tol=tol)
        assert fi.converged
    assert _rel(fi.eigvals, torch.linalg.eigvalsh(H_ref).flip(0)[:3]) < rtol


@pytest.mark.slow
def test_dcgan_face_forward_iter(dcgan_face):
    """The paper's default step 1e-3 |z0| on mse: the DCGAN's ReLUs put kinks inside it, so a few
    percent error on the top 5 and a Lanczos that cannot reach 1e-10 are what the method gives
    (against jacobian, itself checked against the dense reference and finite differences)."""
    D, z = ganmetric.load_distance("mse", dtype="float64"), dcgan_face.sample(1, seed=0)
    with pytest.warns(NumericalWarning, match="did not converge"):
        fi = ganmetric.metric_tensor(dcgan_face, D, z, method="forward-iter", k=5)
    ref = ganmetric.metric_tensor(dcgan_face, D, z, method="jacobian")
    assert _rel(fi.eigvals, ref.eigvals[:5]) < 5e-2


@pytest.mark.slow
def test_float32_default_and_auto_choice(dcgan_face):
    G = ganmetric.load_generator("dcgan-face")
    D = ganmetric.load_distance("mse")
    z = G.sample(1, seed=0)
    res = ganmetric.metric_tensor(G, D, z)
    assert res.method == "jacobian" and res.H.dtype == torch.float32 and res.H.shape == (100, 100)
    top = ganmetric.metric_tensor(G, D, z, method="gn-lanczos", k=20)
    assert top.converged and top.residuals.shape == (20,)
    ref = ganmetric.metric_tensor(dcgan_face, ganmetric.load_distance("mse", dtype="float64"), z.double())
    assert _rel(top.eigvals.double(), ref.eigvals[:20]) < 1e-4
    assert _rel(res.eigvals.double(), ref.eigvals) < 1e-4


def test_auto_picks_fwd_over_rev_without_features():
    G = TinyConvGenerator(n=5, seed=2, res=8).double()
    D = FunctionDistance(lambda x, y: ((x - y) ** 2).flatten(1).mean(1) + ((x - y) ** 4).flatten(1).mean(1))
    z = G.sample(1, seed=0)
    res = ganmetric.metric_tensor(G, D, z)
    assert res.method == "fwd-over-rev"
    _check_against(res, dense_hessian(G, D, z), tol=1e-6)
    with pytest.raises(InputError, match="squared-feature form"):
        ganmetric.metric_tensor(G, D, z, method="jacobian")




@pytest.mark.parametrize("method", ["jacobian", "gn-lanczos", "fwd-over-rev"])
@pytest.mark.parametrize("mode, match", [("dropout", "two evaluations"), ("batchstats", "other codes")])
def test_determinism_probe(mode, match, method):
    """jacobian and gn-lanczos finish the probe with their own evaluation of z0; fwd-over-rev with the reference."""
    D = ganmetric.load_distance("mse")
    with pytest.raises(NotDeterministicError, match=match):
        ganmetric.metric_tensor(NoisyGenerator(mode), D, torch.ones(4), method=method, k=2 if method == "gn-lanczos" else None)


class _NonFinite(Generator):
    """G(z) = f(A z) as (3, 2, 2) images, f making the image, its derivative or H non-finite at z."""

    def __init__(self, mode):
        super().__init__(name=f"g-{mode}", latent_dim=4, resolution=2)
        self.mode = mode
        self.register_buffer("A", torch.randn(12, 4, generator=torch.Generator().manual_seed(0)))
        self.freeze()

    def _generate(self, z):
        y = z @ self.A.T
        if self.mode == "nan-image":
            y = y * float("nan")
        elif self.mode == "nan-derivative":  # finite image |y|, derivative y / |y| = 0 / 0 at z = 0
            y = torch.sqrt(y ** 2)
        else:  # finite image near 1e30: H ~ 1e60 overflows float32
            y = 1e30 * torch.tanh(y)
        return y.reshape(-1, 3, 2, 2)


_METHODS = [m for m in ganmetric.METHODS if m != "auto"]
_TOP_K = {"gn-lanczos": 2, "backward-iter": 2, "forward-iter": 2}


@pytest.mark.parametrize("method", _METHODS)
def test_a_non_finite_image_is_named_as_such(method):
    """Not "changes with the other codes in its batch": NaN never equals NaN, so finiteness is checked first."""
    from ganmetric.errors import NonFiniteError
    with pytest.raises(NonFiniteError, match="^g-nan-image: the generator's output is not finite at this code"):
        ganmetric.metric_tensor(_NonFinite("nan-image"), ganmetric.load_distance("mse"), torch.ones(4),
                                method=method, k=_TOP_K.get(method))


@pytest.mark.parametrize("mode, z", [("nan-derivative", torch.zeros(4)), ("overflow", torch.ones(4))])
@pytest.mark.parametrize("method", _METHODS)
def test_a_non_finite_metric_ends_in_one_named_error(mode, z, method):
    """Every method ends with NonFiniteError naming the cause, never eigh's LinAlgError (forward-iter's finite
    differences step over the one point where the derivative is NaN, and give a finite answer there)."""
    from ganmetric.errors import NonFiniteError
    G, D = _NonFinite(mode), ganmetric.load_distance("mse")
    assert torch.isfinite(G(z[None])).all()  # the image itself is finite
    if mode == "nan-derivative" and method == "forward-iter":
        res = ganmetric.metric_tensor(G, D, z, method=method, k=2)
        assert torch.isfinite(res.eigvals).all()
        return
    with pytest.raises(NonFiniteError, match=r"(the metric H|a metric product H v|the Lanczos|the projected metric)"
                                             r".* is not finite \(NaN or inf\): the derivative of the generator"):
        ganmetric.metric_tensor(G, D, z, method=method, k=_TOP_K.get(method))


def test_a_non_finite_image_is_one_line_in_the_cli(tmp_path, monkeypatch):
    from click.testing import CliRunner
    from ganmetric_cli.main import main
    from helpers import one_error_line
    monkeypatch.setattr("ganmetric.generators.spec.ModelSpec.load", lambda self, **kw: _NonFinite("nan-image"))
    res = CliRunner().invoke(main, ["hessian", "--distance", "mse", "-q", "--out", str(tmp_path / "h.npz")])
    one_error_line(res, "g-nan-image: the generator's output is not finite at this code")
    assert res.exit_code == 1  # a failure at run time, not bad input
    assert not (tmp_path / "h.npz").exists()


@pytest.mark.parametrize("bad, match", [
    (torch.ones(5), r"shape \(4,\)"), (torch.tensor([1.0, float("nan"), 0, 0]), "NaN"),
    (torch.ones(2, 4), "one latent point")])
def test_bad_z(bad, match):
    G = LinearGenerator(torch.eye(16, 4))
    with pytest.raises(InputError, match=match):
        ganmetric.metric_tensor(G, ganmetric.load_distance("mse"), bad)


@pytest.mark.parametrize("kw, argument, match", [
    ({"k": 0}, "k", "k must be at least 1 and at most 4, got 0"), ({"k": 5}, "k", "k must"),
    ({"method": "nope"}, "method", "method 'nope' is not one of"), ({"chunk": 0}, "chunk", "chunk must be at least 1"),
    ({"chunk": 2.5}, "chunk", "chunk must be an integer"),
    # forward-iter with eps = 0 divided by zero and ended in a LinAlgError inside Lanczos
    ({"method": "forward-iter", "eps": 0}, "eps", "eps must be a finite number > 0, got 0"),
    ({"method": "forward-iter", "eps": float("nan")}, "eps", "eps must be a finite number, got nan"),
    ({"method": "forward-iter", "eps": -1e-3}, "eps", "eps must be a finite number > 0"),
    # tol < 0 and max_iter = 0 used to be accepted and ignored
    ({"method": "gn-lanczos", "k": 2, "tol": -1}, "tol", "tol must be a finite number > 0, got -1"),
    ({"method": "gn-lanczos", "k": 2, "tol": float("inf")}, "tol", "tol must be a finite number, got inf"),
    ({"method": "gn-lanczos", "k": 2, "max_iter": 0}, "max_iter", "max_iter must be at least 1, got 0"),
    ({"method": "backward-iter", "k": 3, "max_iter": 2}, "max_iter", r"max_iter must be at least k \(3\)"),
    ({"method": "gn-lanczos", "k": 2, "seed": 0.5}, "seed", "seed must be an integer"),
    # a bad value is refused even where the method would not read it
    ({"method": "jacobian", "eps": 0}, "eps", "eps must be a finite number > 0"),
])
def test_bad_options(kw, argument, match):
    G = LinearGenerator(torch.eye(16, 4))
    with pytest.raises(InputError, match=match) as info:
        ganmetric.metric_tensor(G, ganmetric.load_distance("mse"), torch.ones(4), **kw)
    assert info.value.argument == argument


@pytest.mark.parametrize("method, k, recorded", [
    ("jacobian", None, {"chunk": 4, "eps": None, "max_iter": None, "tol": None, "lanczos_seed": None}),
    ("bp", None, {"chunk": None, "eps": None, "max_iter": None, "tol": None, "lanczos_seed": None}),
    ("fwd-over-rev", None, {"chunk": 4, "eps": None, "max_iter": None, "tol": None, "lanczos_seed": None}),
    ("fwd-over-rev", 2, {"chunk": 4, "eps": None, "max_iter": 4, "tol": 1e-9, "lanczos_seed": 3}),
    ("gn-lanczos", 2, {"chunk": 4, "eps": None, "max_iter": 4, "tol": 1e-9, "lanczos_seed": 3}),
    ("backward-iter", 2, {"chunk": None, "eps": None, "max_iter": 4, "tol": 1e-9, "lanczos_seed": 3}),
    ("forward-iter", 2, {"chunk": 4, "eps": 1e-2, "max_iter": 4, "tol": 1e-9, "lanczos_seed": 3}),
])
def test_options_record_only_what_the_method_read(method, k, recorded):
    """Options the method ignores are None in the result (and its file), never a value that did nothing."""
    A = torch.randn(16, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    res = ganmetric.metric_tensor(LinearGenerator(A), ganmetric.load_distance("mse", dtype="float64"),
                                  torch.ones(4, dtype=torch.float64), method=method, k=k, eps=1e-2, max_iter=4,
                                  tol=1e-9, seed=3)
    assert res.options == {**recorded, "allow_tf32": False}  # every method reads it (TF32 off by default)
    names = [name for name in ("chunk", "eps", "max_iter", "tol", "seed")]
    unused = unused_options(method, True, 4, k, names)
    assert unused == [n for n in names if recorded["lanczos_seed" if n == "seed" else n] is None]


def test_unused_options_resolves_auto():
    assert unused_options("auto", True, 100, None, ["eps", "tol", "chunk"]) == ["eps", "tol"]   # jacobian
    assert unused_options("auto", True, 512, 10, ["eps", "tol", "chunk"]) == ["eps"]           # gn-lanczos
    assert unused_options("auto", False, 8, None, ["max_iter", "chunk"]) == ["max_iter"]      # fwd-over-rev, full
    with pytest.raises(InputError, match="method 'nope' is not one of"):
        unused_options("nope", True, 4, None, [])


def test_adding_a_method_is_one_registry_entry(monkeypatch):
    """A new entry is accepted by metric_tensor, listed in its errors, and run through its ``run``."""
    calls = []

    def run(obj, settings):
        calls.append(settings.k)
        return ganmetric.METHODS["jacobian"].run(obj, settings)

    monkeypatch.setitem(ganmetric.METHODS, "my-method", Method("test entry", True, "full", run, frozenset({"chunk"})))
    A = torch.randn(16, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    res = ganmetric.metric_tensor(LinearGenerator(A), ganmetric.load_distance("mse", dtype="float64"),
                                  torch.ones(4, dtype=torch.float64), method="my-method")
    assert calls == [None] and res.method == "my-method"
    assert _rel(res.H, 2 * A.T @ A / 16) <= 1e-13
    with pytest.raises(InputError, match="my-method"):
        ganmetric.metric_tensor(LinearGenerator(A), ganmetric.load_distance("mse", dtype="float64"),
                                torch.ones(4, dtype=torch.float64), method="nope")


def _result(eigvals, H=None):
    vals = torch.tensor(eigvals, dtype=torch.float64)
    n = H.shape[0] if H is not None else len(eigvals)
    return MetricResult(eigvals=vals, eigvecs=torch.eye(n, dtype=torch.float64)[:, :len(eigvals)], H=H,
                        method="test", seconds=0.0, z=torch.zeros(n, dtype=torch.float64))


@pytest.mark.parametrize("eigvals, H, n99", [
    # a top-k spectrum with a negative eigenvalue: by magnitude, 10 holds 97.6% of 10.25; the old count
    # clamped -0.2 to 0 and divided by the signed sum 9.85, and said 1
    ([10.0, 0.05, -0.2], None, 2),
    # a full H stored with only its top 2 pairs: the count is over the stored 2 (as `spectrum` reads the
    # file), where the old one measured them against the full trace and said 2 of 2
    ([5.0, 0.01], torch.diag(torch.tensor([5.0, 0.01, 3.0, 3.0], dtype=torch.float64)), 1),
    # exactly 99%: reaching the threshold counts
    ([99.0, 1.0], None, 1),
])
def test_summary_uses_the_one_anisotropy_definition(eigvals, H, n99):
    s = _result(eigvals, H).summary()
    assert s["n99"] == n99 == int(anisotropy_counts(np.array(eigvals), (0.99,))[0])
    assert s["total"] == pytest.approx(sum(abs(v) for v in eigvals), rel=1e-15)
    assert s["trace"] == (None if H is None else pytest.approx(float(torch.trace(H)), rel=1e-15))


def test_summary_of_an_all_zero_spectrum_has_no_count():
    s = _result([0.0, 0.0]).summary()
    assert s["n99"] is None and s["total"] is None


def test_dtype_mismatch_is_refused():
    G = LinearGenerator(torch.eye(16, 4, dtype=torch.float64))
    with pytest.raises(InputError, match="same dtype"):
        ganmetric.metric_tensor(G, ganmetric.load_distance("lpips-alex", lpips_backbone="random"), torch.ones(4))


def test_caller_tensors_untouched():
    G = TinyConvGenerator(n=5, seed=0, res=8)
    z = G.sample(1, seed=0)
    z_copy = z.clone()
    params = [p.clone() for p in G.parameters()]
    ganmetric.metric_tensor(G, ganmetric.load_distance("mse"), z, method="bp")
    # bitwise on purpose: the caller's z and parameters must be left exactly as they were (nothing in place)
    assert torch.equal(z, z_copy)
    assert all(torch.equal(a, b) for a, b in zip(params, G.parameters()))
