"""metric_tensor against closed forms and an independent dense float64 Hessian."""
from __future__ import annotations

import pytest
import torch

import ganmetric
from ganmetric.distances import FunctionDistance
from ganmetric.errors import InputError, NotDeterministicError
from ganmetric.generators.base import Generator
from helpers import LinearGenerator, TinyConvGenerator, dense_reference

EXACT = ["jacobian", "gn-lanczos", "fwd-over-rev", "bp", "backward-iter"]
TOPK = {"gn-lanczos", "backward-iter", "forward-iter"}


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


@pytest.mark.parametrize("method", EXACT + ["forward-iter", "auto"])
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
    _check_against(res, H_true.to(device), tol=1e-6 if method != "forward-iter" else 1e-6)


@pytest.fixture(scope="module", params=["mse", "lpips-alex", "lpips-vgg", "lpips-squeeze"])
def distance64(request):
    spec = request.param
    # alex also exercises resize; vgg and squeeze run at the generator's native 32 px (cheaper)
    return ganmetric.load_distance(spec, lpips_backbone="random", dtype="float64",
                                   **({"resize": 64} if spec == "lpips-alex" else {}))


def test_tiny_conv_matches_dense_reference(distance64):
    G = TinyConvGenerator(n=6, seed=1, res=32).double()
    D, spec = distance64, distance64.name
    z = G.sample(1, seed=3)
    H_ref = dense_reference(G, D, z)
    for method in EXACT:
        res = ganmetric.metric_tensor(G, D, z, method=method, k=4 if method in TOPK else None)
        _check_against(res, H_ref, tol=1e-6)
    # forward-iter: O(step^2) on a smooth map (mse); ReLU/max-pool kinks of the LPIPS
    # backbones inside the step make finite differences far worse, as expected of them.
    fi = ganmetric.metric_tensor(G, D, z, method="forward-iter", k=3, eps=1e-4)
    assert _rel(fi.eigvals, torch.linalg.eigvalsh(H_ref).flip(0)[:3]) < (1e-4 if spec == "mse" else 5e-2)


@pytest.mark.parametrize("spec", ["mse", "lpips-alex"])
def test_dcgan_face_matches_dense_reference(dcgan_face, spec, lpips_random64):
    D = lpips_random64 if spec != "mse" else ganmetric.load_distance("mse", dtype="float64")
    z = dcgan_face.sample(1, seed=0)
    H_ref = dense_reference(dcgan_face, D, z)
    for method in ["jacobian", "gn-lanczos", "fwd-over-rev"] + (["bp", "backward-iter"] if spec == "mse" else []):
        res = ganmetric.metric_tensor(dcgan_face, D, z, method=method, k=8 if method in TOPK else None, chunk=50)
        _check_against(res, H_ref, k=8, tol=1e-6)
    if spec == "mse":
        # forward-iter (paper default step 1e-3 |z0|): the ReLUs of the DCGAN put kinks inside
        # the finite-difference step, so a few percent error is what this method gives here
        # (more with the ReLU/max-pool LPIPS backbone on top).
        fi = ganmetric.metric_tensor(dcgan_face, D, z, method="forward-iter", k=5)
        assert _rel(fi.eigvals, torch.linalg.eigvalsh(H_ref).flip(0)[:5]) < 5e-2


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
    _check_against(res, dense_reference(G, D, z), tol=1e-6)
    with pytest.raises(InputError, match="squared-feature form"):
        ganmetric.metric_tensor(G, D, z, method="jacobian")


def test_chunking_does_not_change_the_result():
    G = TinyConvGenerator(n=7, seed=4, res=8).double()
    D = ganmetric.load_distance("mse", dtype="float64")
    z = G.sample(1, seed=1)
    a = ganmetric.metric_tensor(G, D, z, method="jacobian").H
    b = ganmetric.metric_tensor(G, D, z, method="jacobian", chunk=3).H
    assert torch.allclose(a, b, rtol=1e-12, atol=1e-15)


class _Noisy(Generator):
    def __init__(self, mode):
        super().__init__(name=f"noisy-{mode}", latent_dim=4)
        self.mode = mode
        self.freeze()

    def _generate(self, z):
        x = z.repeat(1, 4)
        if self.mode == "dropout":
            x = torch.nn.functional.dropout(x, 0.5, training=True)
        else:  # batch statistics, as train-mode BatchNorm would use
            x = x - x.mean(0, keepdim=True)
        return x.reshape(-1, 1, 4, 4)


@pytest.mark.parametrize("mode", ["dropout", "batchstats"])
def test_determinism_probe(mode):
    D = ganmetric.load_distance("mse")
    with pytest.raises(NotDeterministicError):
        ganmetric.metric_tensor(_Noisy(mode), D, torch.ones(4), method="jacobian")


@pytest.mark.parametrize("bad, match", [
    (torch.ones(5), r"shape \(4,\)"), (torch.tensor([1.0, float("nan"), 0, 0]), "NaN"),
    (torch.ones(2, 4), "one latent point")])
def test_bad_z(bad, match):
    G = LinearGenerator(torch.eye(16, 4))
    with pytest.raises(InputError, match=match):
        ganmetric.metric_tensor(G, ganmetric.load_distance("mse"), bad)


@pytest.mark.parametrize("kw, match", [({"k": 0}, "k must"), ({"k": 5}, "k must"), ({"method": "nope"}, "Invalid method"),
                                       ({"chunk": 0}, "chunk must")])
def test_bad_options(kw, match):
    G = LinearGenerator(torch.eye(16, 4))
    with pytest.raises(InputError, match=match):
        ganmetric.metric_tensor(G, ganmetric.load_distance("mse"), torch.ones(4), **kw)


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
    assert torch.equal(z, z_copy)
    assert all(torch.equal(a, b) for a, b in zip(params, G.parameters()))
