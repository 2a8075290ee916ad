"""``metric_tensor``: the pull-back metric H(z0) of a distance through a generator, by named method."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from .. import checks
from ..errors import InputError, NotDeterministicError
from .dense import bp_hessian, jacobian_gram, operator_dense
from .lanczos import block_lanczos, lanczos
from .operators import (DoubleBackwardOperator, FiniteDifferenceOperator, FwdOverRevOperator,
                        GaussNewtonOperator, MetricOperator, Objective)

#: name -> (what it computes, needs the squared-feature form)
METHODS = {
    "auto": ("picks by cost: jacobian, gn-lanczos or fwd-over-rev", False),
    "jacobian": ("full H = 2 J^T J from batched forward-mode products", True),
    "gn-lanczos": ("top k by Lanczos on H v = 2 J^T (J v) (jvp + vjp)", True),
    "fwd-over-rev": ("exact forward-over-reverse HVPs, any distance: full H, or top k by Lanczos", False),
    "bp": ("paper: gradient with create_graph, one backward pass per row (full H)", False),
    "backward-iter": ("paper: Lanczos on double-backward HVPs (top k)", False),
    "forward-iter": ("paper: Lanczos on finite-difference HVPs (top k, approximate)", False),
}
FULL_METHODS = ("jacobian", "bp")
TOPK_METHODS = ("gn-lanczos", "backward-iter", "forward-iter")
#: top-k methods solved by block Lanczos (their products batch well); the paper's baselines stay single-vector
BLOCK_METHODS = ("gn-lanczos", "fwd-over-rev")
DEFAULT_K = 20
#: codes per batched pass when not given: forward-mode passes keep no activations for a
#: backward pass, so memory is about chunk x (largest activation) x a few.
DEFAULT_CHUNK = 64
#: ``auto`` uses the full Jacobian Gram up to this latent size (measured: one batched pass
#: beats ~3k sequential Lanczos products there), gn-lanczos above it when k is small.
AUTO_FULL_MAX_DIM = 128


@dataclass(frozen=True)
class MetricResult:
    """The metric at one latent point.

    Attributes:
        eigvals: (k,) descending (k = n for full methods).
        eigvecs: (n, k), orthonormal columns.
        H: (n, n) for full methods, else None.
        method: the method that ran (``auto`` resolved).
        seconds: wall time of the computation.
        z: (n,) the base point.
        k: number of eigenpairs returned.
        residuals: (k,) ``||H v - lambda v||`` (iterative methods), else None.
        converged: the iterative solver reached its tolerance (True for dense methods).
        n_products: single-vector products (or rows) computed.
    """

    eigvals: torch.Tensor
    eigvecs: torch.Tensor
    H: torch.Tensor | None
    method: str
    seconds: float
    z: torch.Tensor
    k: int
    residuals: torch.Tensor | None = None
    converged: bool = True
    n_products: int = 0
    options: dict = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return self.z.numel()

    def summary(self, top: int = 5) -> dict:
        """Top eigenvalues, trace (of the full H, or of the top k), and the 99%-of-trace count."""
        vals = self.eigvals.detach().double().cpu()
        trace = float(torch.trace(self.H.double()).item()) if self.H is not None else float(vals.sum())
        frac = torch.cumsum(vals.clamp_min(0), 0) / max(trace, 1e-300)
        n99 = int((frac < 0.99).sum().item()) + 1
        return {"top_eigvals": vals[:top].tolist(), "trace": trace, "n99": min(n99, len(vals)),
                "method": self.method, "seconds": self.seconds, "dim": self.dim, "k": self.k}


def resolve_method(method: str, has_features: bool, n: int, k: int | None) -> str:
    """The method ``auto`` stands for, given the distance, latent size and k."""
    if method != "auto":
        return method
    if not has_features:
        return "fwd-over-rev"
    if k is None or n <= AUTO_FULL_MAX_DIM or k > n // 4:
        return "jacobian"
    return "gn-lanczos"


def probe_determinism(obj: Objective, *, rtol: float | None = None) -> None:
    """Raise if the composed map is not a deterministic, row-independent function of z.

    Evaluates d(G(z0), G(z)) features (or the distance) for the same codes twice and for a
    code alone versus inside a batch: dropout, noise injection and train-mode BatchNorm
    all show up as a difference.

    Raises:
        NotDeterministicError: naming which check failed and by how much.
    """
    rtol = rtol if rtol is not None else (1e-4 if obj.z0.dtype == torch.float32 else 1e-9)
    g = torch.Generator().manual_seed(12345)
    other = obj.z0 + torch.randn(obj.z0.shape, generator=g, dtype=torch.float64).to(obj.z0)
    fn = obj.psi if obj.D.has_features else (lambda Z: obj.G(Z).flatten(1))
    with torch.no_grad():
        a = fn(obj.z0[None])
        b = fn(obj.z0[None])
        c = fn(torch.stack([obj.z0, other]))[:1]
    scale = a.abs().max().clamp_min(1e-30)
    if (a - b).abs().max() > rtol * scale:
        raise NotDeterministicError(
            f"{obj.G.name}: two evaluations of the same code differ by {float((a - b).abs().max()):.3g} "
            f"(dropout or random noise active?); the metric needs a deterministic generator")
    if (a - c).abs().max() > rtol * scale:
        raise NotDeterministicError(
            f"{obj.G.name}: a code's output changes with the other codes in its batch "
            f"(train-mode BatchNorm?); put the model in eval mode")


def _module_dtype(m) -> torch.dtype | None:
    for t in list(m.parameters()) + list(m.buffers()):
        if t.is_floating_point():
            return t.dtype
    return None


def metric_tensor(G, D, z, method: str = "auto", k: int | None = None, *, chunk: int | None = None,
                  eps: float = 1e-3, max_iter: int | None = None, tol: float | None = None, seed: int = 0,
                  probe: bool = True, progress: bool = False) -> MetricResult:
    """The metric tensor H(z0) (Hessian of d(G(z0), G(z)) at z = z0), full or top k.

    Args:
        G: a :class:`~ganmetric.generators.Generator` (or module with ``latent_dim``).
        D: a :class:`~ganmetric.distances.Distance`.
        z: the base point, shape (n,) or (1, n).
        method: one of :data:`METHODS` (``auto``: jacobian for features-form distances and
            moderate n, gn-lanczos for small k at large n, fwd-over-rev otherwise).
        k: number of top eigenpairs (None: all for full methods, 20 for iterative ones).
        chunk: codes per batched pass (bounds memory; default :data:`DEFAULT_CHUNK`).
        eps: forward-iter finite-difference step, relative to |z0|.
        max_iter, tol, seed: Lanczos options (see :func:`~ganmetric.hessian.lanczos.lanczos`).
        probe: run the determinism probe first.
        progress: show progress bars.

    Returns:
        MetricResult.

    Raises:
        InputError: bad z, k, method or chunk, or a method needing features with a distance without.
        NotDeterministicError: the probe found a non-deterministic map.
    """
    checks.one_of("method", method, METHODS)
    n = int(G.latent_dim)
    z = checks.latent_codes(z, n)
    if z.shape[0] != 1:
        raise InputError(f"metric_tensor takes one latent point, got {z.shape[0]}; use ganmetric.batch_metric for many")
    dtype = _module_dtype(G) or torch.get_default_dtype()
    ddt = _module_dtype(D)
    if ddt is not None and ddt != dtype:
        raise InputError(f"the distance is {ddt} but the generator is {dtype}; load both with the same dtype")
    device = getattr(G, "device", torch.device("cpu"))
    z0 = z[0].to(device=device, dtype=dtype)
    if k is not None:
        checks.positive_int("k", k, maximum=n)
    if chunk is not None:
        checks.positive_int("chunk", chunk)
    else:
        chunk = min(n, DEFAULT_CHUNK)
    name = resolve_method(method, D.has_features, n, k)
    if METHODS[name][1] and not D.has_features:
        raise InputError(f"method {name!r} needs a distance with a squared-feature form; "
                         f"{D.name!r} has none: use fwd-over-rev, bp or backward-iter")
    if name in TOPK_METHODS or (name == "fwd-over-rev" and k is not None and k < n):
        k = k or min(DEFAULT_K, n)

    t0 = time.perf_counter()
    obj = Objective(G, D, z0)
    if probe:
        probe_determinism(obj)
    H = residuals = None
    converged, n_products = True, n
    if name == "jacobian":
        H = jacobian_gram(obj, chunk=chunk, progress=progress)
    elif name == "bp":
        H = bp_hessian(obj, progress=progress)
    elif name == "fwd-over-rev" and k is None:
        H = operator_dense(FwdOverRevOperator(obj, chunk), progress=progress)
    else:
        op: MetricOperator = {
            "gn-lanczos": lambda: GaussNewtonOperator(obj, chunk),
            "fwd-over-rev": lambda: FwdOverRevOperator(obj, chunk),
            "backward-iter": lambda: DoubleBackwardOperator(obj),
            "forward-iter": lambda: FiniteDifferenceOperator(obj, eps, chunk),
        }[name]()
        if name in BLOCK_METHODS:  # batched operators: a block of products per vmap pass
            lz = block_lanczos(op.matmat, n, k, device=device, dtype=dtype, max_iter=max_iter, tol=tol,
                               seed=seed, progress=progress)
        else:
            lz = lanczos(op.matvec, n, k, matmat=op.matmat, device=device, dtype=dtype, max_iter=max_iter,
                         tol=tol, seed=seed, progress=progress)
        vals, vecs, residuals, converged, n_products = lz.eigvals, lz.eigvecs, lz.residuals, lz.converged, op.n_products
    if H is not None:
        evals, evecs = torch.linalg.eigh(H)
        vals, vecs = evals.flip(0), evecs.flip(1)
        if k is not None:
            vals, vecs = vals[:k], vecs[:, :k]
    seconds = time.perf_counter() - t0
    options = {"chunk": chunk, "eps": eps if name == "forward-iter" else None, "max_iter": max_iter,
               "tol": tol, "seed": seed}
    return MetricResult(eigvals=vals, eigvecs=vecs, H=H, method=name, seconds=seconds, z=z0.detach(),
                        k=int(vals.numel()), residuals=residuals, converged=converged,
                        n_products=n_products, options=options)
