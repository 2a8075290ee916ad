"""Metric operators: products ``H @ V`` without forming H.

``H(z0)`` is the Hessian of ``f(z) = d(G(z0), G(z))`` at ``z0``. Every operator batches
the columns of ``V`` into the batch dimension of one pass through G and the distance
(rows of a generator batch are independent; the determinism probe checks it), so a
block of m products costs about one forward pass of m codes.

- :class:`GaussNewtonOperator`: ``H V = 2 c^2 J^T (J V)``, composed from the
  :class:`~ganmetric.hessian.jacobian.JacobianOperator` ``J = d psi/dz``
  (``psi = D.unscaled_features o G``, ``c`` the distance's constant feature factor): one
  batched jvp plus one batched vjp; :meth:`~GaussNewtonOperator.gram` gives the whole H
  from the rows of J. Exact for distances with the squared-feature form (the residual
  vanishes at z = z0).
- :class:`FwdOverRevOperator`: ``H V = jvp(grad f)``: exact for any twice-differentiable distance.
- :class:`DoubleBackwardOperator`: the paper's ``backward-iter`` product, one vector at a
  time by double backward through a cached gradient graph.
- :class:`FiniteDifferenceOperator`: the paper's ``forward-iter`` product,
  ``(grad f(z0 + e v) - grad f(z0 - e v)) / 2e`` with ``e = eps * |z0|`` for unit v.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch.func import grad

from .. import checks
from .._progress import progress_bar
from ..errors import InputError
from ..linalg import check_finite
from ..oom import Chunks
from .jacobian import JacobianOperator
from .objective import Objective


class MetricOperator:
    """A symmetric linear operator on R^n given by its product with blocks of vectors.

    Subclasses implement ``_matmat(V)`` for V of shape (n, m); the base class chunks
    wide blocks (``chunk`` columns per pass, bounding memory; a pass that runs out of memory
    is retried with half as many columns, see :class:`ganmetric.oom.Chunks`), counts
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
            raise InputError(f"V must be a block of shape ({self.dim}, m), got {shape}", argument="V")
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
            raise InputError(f"v must be a vector of shape ({self.dim},), got {shape}", argument="v")
        return self.matmat(v[:, None])[:, 0]

    def __matmul__(self, other: torch.Tensor) -> torch.Tensor:
        return self.matvec(other) if other.dim() == 1 else self.matmat(other)

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class JacobianGram(NamedTuple):
    """The full Gauss-Newton metric from the rows of J (:meth:`GaussNewtonOperator.gram`).

    Attributes:
        H: (n, n), ``2 c^2 J^T J``, exactly symmetric.
        primal: (1, F), ``psi(z0)`` evaluated alone by the first pass (the determinism probe compares it).
        chunk: tangents per pass at the end (smaller than asked after an out-of-memory retry).
    """

    H: torch.Tensor
    primal: torch.Tensor
    chunk: int


class GaussNewtonOperator(MetricOperator):
    """``H V = 2 c^2 J^T (J V)``, composed from the :class:`~ganmetric.hessian.jacobian.JacobianOperator` J.

    Like linear_operator's ``RootLinearOperator`` (``R R^T`` with the root ``R = sqrt(2) c J^T``):
    a product is one batched jvp and one batched vjp through a graph kept from one forward pass
    at z0 (:meth:`linearize`), and :meth:`gram` forms the whole H from the rows of J (the
    ``jacobian`` method). ``c`` is the distance's constant feature factor
    (:attr:`Objective.feature_scale`); :attr:`factor` is the one place ``2 c^2`` is applied.

    Args:
        obj: the :class:`~ganmetric.hessian.Objective`; its distance needs the squared-feature form.
        chunk: tangents per batched pass (None: all of a block at once).
    """

    label = "Gauss-Newton products"

    def __init__(self, obj: Objective, chunk: int | None = None):
        super().__init__(obj.z0.numel(), obj.z0.device, obj.z0.dtype, chunk)
        self.obj, self.J = obj, JacobianOperator(obj)
        self._pullback = None

    @property
    def factor(self) -> float:
        """``2 c^2``: H = factor * J^T J (read after a pass, which records the distance's input shape)."""
        return 2 * self.obj.feature_scale ** 2

    def linearize(self) -> torch.Tensor:
        """Evaluate ``psi(z0)`` alone with its graph, which every ``J^T`` product then reuses.

        Returns:
            The primal, (1, F) (the determinism probe compares it).
        """
        primal, self._pullback = self.J.vjp()
        return primal

    def _matmat(self, V):
        if self._pullback is None:
            self.linearize()
        _, JV = self.J.jvp(V.T.contiguous())
        return self.factor * self._pullback(JV).T

    def gram(self, *, progress: bool = False) -> JacobianGram:
        """The whole ``H = 2 c^2 J^T J`` from batched forward-mode products (no double backward).

        Each chunk of identity rows E (c of them) goes through one batched jvp giving c rows
        of J^T; J is kept (n x F, the size of the features times n) and the Gram matrix is
        one matmul. A pass that runs out of memory is retried with half as many rows
        (:class:`ganmetric.oom.Chunks`).

        Returns:
            JacobianGram (H (n, n) symmetric PSD, the first pass's primal, the chunk used).
        """
        n = self.dim
        eye = torch.eye(n, device=self.device, dtype=self.dtype)
        bar = progress_bar(None, enable=progress and n > self.chunk, total=n, desc="jacobian", unit="column")
        primals = []

        def rows(i, j):
            primal, JE = self.J.jvp(eye[i:j])
            primals.append(primal)
            return JE

        self._chunks = Chunks(self.chunk, "jacobian")  # the method's name in out-of-memory warnings
        try:
            blocks = self._chunks.map(rows, n, on_pass=None if bar is None else bar.update)
        finally:
            if bar is not None:
                bar.close()
        Jt = blocks[0] if len(blocks) == 1 else torch.cat(blocks)  # (n, F): row i is J e_i (no copy for one chunk)
        H = self.factor * (Jt @ Jt.T)
        return JacobianGram((H + H.T) / 2, primals[0].detach(), self.chunk)


class FwdOverRevOperator(MetricOperator):
    """``H V`` by forward-mode differentiation of the reverse-mode gradient (exact, any distance).

    Args:
        obj: the :class:`~ganmetric.hessian.Objective`.
        chunk: tangents per batched pass (None: all of a block at once).
    """

    label = "forward-over-reverse products"

    def __init__(self, obj: Objective, chunk: int | None = None):
        super().__init__(obj.z0.numel(), obj.z0.device, obj.z0.dtype, chunk)
        self.obj = obj
        obj.x0  # the reference image, evaluated here rather than first inside the transforms
        self._grad = grad(lambda Z: self.obj.f(Z).sum())

    def _matmat(self, V):
        return self.obj.jvp(self._grad, V.T.contiguous())[1].T


class DoubleBackwardOperator(MetricOperator):
    """The paper's ``backward-iter`` product: ``d/dz (grad f(z) . v)``, one vector per backward pass.

    Args:
        obj: the :class:`~ganmetric.hessian.Objective`.
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
        obj: the :class:`~ganmetric.hessian.Objective`.
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
