"""Metric operators: products ``H @ V`` without forming H.

``H(z0)`` is the Hessian of ``f(z) = d(G(z0), G(z))`` at ``z0``. Every operator batches
the columns of ``V`` into the batch dimension of one pass through G and the distance
(rows of a generator batch are independent; the determinism probe checks it), so a
block of m products costs about one forward pass of m codes.

- :class:`GaussNewtonOperator`: ``H V = 2 J^T (J V)`` with ``J = d psi/dz``,
  ``psi = D.features o G``: one batched jvp plus one batched vjp. Exact for distances
  with the squared-feature form (the residual vanishes at z = z0).
- :class:`FwdOverRevOperator`: ``H V = jvp(grad f)``: exact for any twice-differentiable distance.
- :class:`DoubleBackwardOperator`: the paper's ``backward-iter`` product, one vector at a
  time by double backward through a cached gradient graph.
- :class:`FiniteDifferenceOperator`: the paper's ``forward-iter`` product,
  ``(grad f(z0 + e v) - grad f(z0 - e v)) / 2e`` with ``e = eps * |z0|`` for unit v.
"""
from __future__ import annotations

import warnings
from typing import Callable

import torch
from torch.func import grad, jvp, vmap

from .. import checks
from ..errors import InputError
from ..linalg import check_finite
from ..memory import Chunks, is_out_of_memory


class MetricOperator:
    """A symmetric linear operator on R^n given by its product with blocks of vectors.

    Subclasses implement ``_matmat(V)`` for V of shape (n, m); the base class chunks
    wide blocks (``chunk`` columns per pass, bounding memory; a pass that runs out of memory
    is retried with half as many columns, see :class:`ganmetric.memory.Chunks`), counts
    products, and provides ``matvec`` and ``@``.

    Attributes:
        dim: n.
        device, dtype: of the vectors it accepts and returns.
        chunk: columns per pass (smaller than given after an out-of-memory retry).
        n_products: number of single-vector products computed so far.
    """

    batched = True  # whether one pass can serve many vectors
    label = "metric products"  # what its passes compute, in warnings

    def __init__(self, dim: int, device: torch.device, dtype: torch.dtype, chunk: int | None = None):
        self.dim, self.device, self.dtype = dim, device, dtype
        size = dim if chunk is None else checks.positive_int("chunk", chunk)
        self._chunks = Chunks(size if self.batched else 1, self.label)
        self.n_products = 0

    @property
    def chunk(self) -> int:
        return self._chunks.size

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        """H @ V for V of shape (n, m); returns (n, m).

        Raises:
            InputError: V is not a tensor of shape (n, m).
            NonFiniteError: a product holds NaN or inf (a solver would otherwise fail on it later).
        """
        if not isinstance(V, torch.Tensor) or V.dim() != 2 or V.shape[0] != self.dim:
            shape = tuple(V.shape) if isinstance(V, torch.Tensor) else type(V).__name__
            raise InputError(f"V must be a block of shape ({self.dim}, m), got {shape}")
        out = torch.cat(self._chunks.map(lambda i, j: self._matmat(V[:, i:j]), V.shape[1]), dim=1)
        self.n_products += V.shape[1]
        check_finite(out, f"a metric product H v ({self.label}) at this code")
        return out

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """H @ v for v of shape (n,).

        Raises:
            InputError: v is not a tensor of shape (n,).
        """
        if not isinstance(v, torch.Tensor) or v.dim() != 1:
            shape = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
            raise InputError(f"v must be a vector of shape ({self.dim},), got {shape}")
        return self.matmat(v[:, None])[:, 0]

    def __matmul__(self, other: torch.Tensor) -> torch.Tensor:
        return self.matvec(other) if other.dim() == 1 else self.matmat(other)

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class Objective:
    """The maps the operators differentiate, for one generator, distance and base point.

    Args:
        G: the generator.
        D: the distance.
        z0: the base point, shape (n,).

    ``psi(Z)`` -> (m, F) weighted features of G(Z) (feature-form distances only), which are
    ``feature_scale * psi_unscaled(Z)``: the operators differentiate ``psi_unscaled`` and
    apply ``feature_scale ** 2`` once to their result (no constant in the tangent path);
    ``f(Z)`` -> (m,) distances d(G(z0), G(Z_i)). What the distance compares is
    :meth:`~ganmetric.distances.Distance.inputs`: the images G(Z), or for a distance of G's
    own layers the activations it reads out of G (hooks run inside the differentiated map).
    """

    def __init__(self, G, D, z0: torch.Tensor):
        self.G, self.D, self.z0 = G, D, z0
        self._x0: torch.Tensor | None = None
        self._input_shape: tuple | None = None
        self._feature_scale: float | None = None
        #: a check of ``psi_unscaled(z0)`` evaluated alone (the determinism probe's second half),
        #: run once by the next :meth:`jvp_block` of ``psi_unscaled``, whose primal is that value
        self.primal_check: Callable[[torch.Tensor], None] | None = None

    @property
    def x0(self) -> torch.Tensor:
        """What the distance compares at z0, evaluated alone (1, ...): computed on first use.

        The ``jacobian`` and ``gn-lanczos`` runs never need it (their passes evaluate z0
        themselves), so it costs them nothing.
        """
        if self._x0 is None:
            with torch.no_grad():
                self._x0 = self.D.inputs(self.G, self.z0[None])
            self._input_shape = tuple(self._x0.shape[1:])
        return self._x0

    def note_input_shape(self, shape: tuple) -> None:
        """The shape of one distance input, (C, H, W), when known without evaluating :attr:`x0`."""
        self._input_shape = tuple(shape)

    @property
    def feature_scale(self) -> float:
        """The distance's constant feature factor c (``psi = c * psi_unscaled``), 1 without one."""
        if self._feature_scale is None:
            scale = getattr(self.D, "feature_scale", None) if getattr(self.D, "has_features", False) else None
            if scale is None:
                self._feature_scale = 1.0
            else:
                shape = self._input_shape if self._input_shape is not None else tuple(self.x0.shape[1:])
                self._feature_scale = float(scale(shape))
        return self._feature_scale

    def check_primal(self, value: torch.Tensor) -> None:
        """Run the pending :attr:`primal_check` (once) on ``psi_unscaled(z0)`` evaluated alone, (1, F)."""
        check, self.primal_check = self.primal_check, None
        if check is not None:
            check(value)

    def psi(self, Z):
        return self.D.features(self.D.inputs(self.G, Z))

    def psi_unscaled(self, Z):
        return self.unscaled_features(self.D.inputs(self.G, Z))

    def unscaled_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """The distance's features of its inputs without :attr:`feature_scale` (distances without
        ``unscaled_features`` have no constant factor: their features)."""
        return getattr(self.D, "unscaled_features", self.D.features)(inputs)

    def f(self, Z):
        return self.D(self.x0, self.D.inputs(self.G, Z))

    def copies(self, m: int) -> torch.Tensor:
        return self.z0.expand(m, -1).clone()

    def jvp_block(self, fn, V: torch.Tensor) -> torch.Tensor:
        """Rows ``d fn(z0) [v_i]`` for the rows v_i of V (m, n), as (m, ...).

        The primal is computed once and only the m tangents are batched (``vmap`` over
        ``jvp``), which costs about one forward pass of m codes. Maps whose operators
        have no vmap rule (some TorchScript modules) fall back to m primal copies.
        """
        with warnings.catch_warnings():
            # torch's first jvp scripts its jvp decompositions and warns that jit.script is deprecated
            warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
            return self._jvp_block(fn, V)

    def _jvp_block(self, fn, V):
        # the first pass of psi_unscaled also hands its primal (z0 alone) to a pending probe check;
        # outside the try blocks below, so that a NotDeterministicError is never taken for a vmap failure
        want = self.primal_check is not None and fn == self.psi_unscaled
        primal, tangents = self._jvp_pass(fn, V)
        if want:
            self.check_primal(primal[:1].detach())
        return tangents

    def _jvp_pass(self, fn, V):
        """(primal for z0, shape (1, ...) or (m, ...) of copies; tangents (m, ...))."""
        z1 = self.z0[None]
        if V.shape[0] == 1:
            return jvp(fn, (z1,), (V,))
        if self._vmap_ok:
            try:
                primal, tangents = vmap(lambda v: jvp(fn, (z1,), (v[None],)), out_dims=(None, 0))(V)
                return primal, tangents[:, 0]
            except (RuntimeError, NotImplementedError) as exc:
                if is_out_of_memory(exc):
                    raise
                self._vmap_ok = False
        return jvp(fn, (self.copies(V.shape[0]),), (V,))

    _vmap_ok = True


class GaussNewtonOperator(MetricOperator):
    """``H V = 2 J^T (J V)``: one batched jvp and one batched vjp per block.

    Args:
        obj: the :class:`Objective`; its distance needs the squared-feature form.
        chunk: tangents per batched pass (None: all of a block at once).
    """

    label = "Gauss-Newton products"

    def __init__(self, obj: Objective, chunk: int | None = None):
        super().__init__(obj.z0.numel(), obj.z0.device, obj.z0.dtype, chunk)
        self.obj = obj
        # One forward pass at z0 whose graph every J^T product reuses. Plain autograd, not
        # torch.func.vjp: the latter's pullback imports torch._dynamo on its first call (~2 s).
        self._z = obj.z0[None].detach().clone().requires_grad_(True)
        with torch.enable_grad():
            self._psi = obj.psi_unscaled(self._z)
        obj.check_primal(self._psi.detach())  # z0 alone: the determinism probe's pending check, if any

    def _matmat(self, V):
        JV = self.obj.jvp_block(self.obj.psi_unscaled, V.T.contiguous())
        JtJV = self._pullback(JV.reshape(V.shape[1], *self._psi.shape))
        return (2 * self.obj.feature_scale ** 2) * JtJV.reshape(V.shape[1], -1).T

    def _pullback(self, U: torch.Tensor) -> torch.Tensor:
        """``J^T u`` for each of the m cotangents U (m, 1, F), batched: (m, 1, n)."""
        if not self._psi.requires_grad:  # psi does not depend on z: J = 0
            return U.new_zeros(U.shape[0], *self._z.shape)
        (g,) = torch.autograd.grad(self._psi, self._z, grad_outputs=U, is_grads_batched=True, retain_graph=True,
                                   allow_unused=True)
        return U.new_zeros(U.shape[0], *self._z.shape) if g is None else g


class FwdOverRevOperator(MetricOperator):
    """``H V`` by forward-mode differentiation of the reverse-mode gradient (exact, any distance).

    Args:
        obj: the :class:`Objective`.
        chunk: tangents per batched pass (None: all of a block at once).
    """

    label = "forward-over-reverse products"

    def __init__(self, obj: Objective, chunk: int | None = None):
        super().__init__(obj.z0.numel(), obj.z0.device, obj.z0.dtype, chunk)
        self.obj = obj
        obj.x0  # the reference image, evaluated here rather than first inside the transforms
        self._grad = grad(lambda Z: self.obj.f(Z).sum())

    def _matmat(self, V):
        return self.obj.jvp_block(self._grad, V.T.contiguous()).T


class DoubleBackwardOperator(MetricOperator):
    """The paper's ``backward-iter`` product: ``d/dz (grad f(z) . v)``, one vector per backward pass.

    Args:
        obj: the :class:`Objective`.
    """

    batched = False

    def __init__(self, obj: Objective):
        super().__init__(obj.z0.numel(), obj.z0.device, obj.z0.dtype, 1)
        self._z = obj.z0.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            (self._g,) = torch.autograd.grad(obj.f(self._z[None]).sum(), self._z, create_graph=True)

    def _matmat(self, V):
        (hv,) = torch.autograd.grad(self._g, self._z, grad_outputs=V[:, 0], retain_graph=True)
        return hv[:, None]


class FiniteDifferenceOperator(MetricOperator):
    """The paper's ``forward-iter`` product: central differences of the gradient.

    For a block V with columns v_i: ``(g(z0 + e u_i) - g(z0 - e u_i)) |v_i| / 2e``,
    ``u_i = v_i / |v_i|``, ``e = eps * |z0|`` (both sides in one batched pass).

    This is ``H v`` itself, and its eigenvalues are those of H. The paper's published code
    (Animadversio/GAN-Geometry, ``GANForwardMetricHVPOperator.apply``) differentiates the
    *mean* of the two distances ``d(G(z0), G(z0 +- e u))`` before taking the difference, so
    each gradient, and its product, is halved: its ForwardIter returns ``H v / 2`` and
    eigenvalues half of ours (and of its own BP / BackwardIter). Ours differentiates the sum
    on purpose, so that every method agrees on H; do not "fix" it back to match the paper's
    ForwardIter numbers (halve ours to compare with them). The paper's default step is also
    larger (``EPS = 1e-2`` against our ``eps = 1e-3``).

    Args:
        obj: the :class:`Objective`.
        eps: the step, relative to ``|z0|``.
        chunk: codes per batched pass (None: a whole block, both sides, at once).

    Raises:
        InputError: eps is not a finite number > 0.
    """

    label = "finite-difference products"

    def __init__(self, obj: Objective, eps: float = 1e-3, chunk: int | None = None):
        super().__init__(obj.z0.numel(), obj.z0.device, obj.z0.dtype, chunk)
        self.obj = obj
        eps = checks.positive_float("eps", eps)  # eps = 0 would divide by zero: NaN products
        self.step = eps * float(obj.z0.norm()) if float(obj.z0.norm()) > 0 else eps
        obj.x0  # the reference image, evaluated here rather than first inside the transforms
        self._grad = grad(lambda Z: self.obj.f(Z).sum())

    def _matmat(self, V):
        norms = V.norm(dim=0).clamp_min(torch.finfo(V.dtype).tiny)
        U = (V / norms).T
        Z = torch.cat([self.obj.z0 + self.step * U, self.obj.z0 - self.step * U])
        g = self._grad(Z)
        m = V.shape[1]
        return ((g[:m] - g[m:]) / (2 * self.step)).T * norms
