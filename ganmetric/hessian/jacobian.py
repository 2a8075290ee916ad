"""The Jacobian J = d psi / dz at z0 as an operator: J and J^T on blocks of vectors, never formed.

``psi`` is the distance's unscaled features of G(z) (:meth:`Objective.psi_unscaled`), so J is
(F, n). The Gauss-Newton metric is composed from it, ``H = 2 c^2 J^T J``
(:class:`~ganmetric.hessian.operators.GaussNewtonOperator`), as linear_operator's
``RootLinearOperator`` composes ``R R^T`` from its root.
"""
from __future__ import annotations

from typing import Callable

import torch

from .objective import Objective


class JacobianOperator:
    """J = d psi/dz at z0, (F, n), by batched forward-mode (J) and reverse-mode (J^T) products.

    Blocks of vectors are rows: tangents (m, n), cotangents (m, F). Both directions return
    their primal, ``psi(z0)`` evaluated alone (1, F), as ``torch.func.jvp`` and ``vjp`` do.

    Args:
        obj: the objective (a distance with the squared-feature form).

    Attributes:
        dim: n. obj: the objective.
    """

    def __init__(self, obj: Objective):
        self.obj, self.dim = obj, obj.z0.numel()

    def jvp(self, T: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``J t_i`` for the rows t_i of T (m, n), in one batched pass (``vmap`` over ``jvp``).

        Returns:
            (primal (1, F), rows (m, F)).
        """
        primal, tangents = self.obj.jvp(self.obj.psi_unscaled, T)
        return primal, tangents.reshape(T.shape[0], -1)

    def vjp(self) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
        """One forward pass at z0 whose graph every ``J^T`` product reuses.

        Plain autograd, not ``torch.func.vjp``: the latter's pullback imports ``torch._dynamo``
        on its first call (~2 s).

        Returns:
            (primal (1, F), pullback): ``pullback(U)`` is ``J^T u_i`` for the rows u_i of U (m, F),
            batched (``is_grads_batched``), as (m, n).
        """
        z = self.obj.z0[None].detach().clone().requires_grad_(True)
        with torch.enable_grad():
            psi = self.obj.psi_unscaled(z)

        def pullback(U: torch.Tensor) -> torch.Tensor:
            m = U.shape[0]
            if not psi.requires_grad:  # psi does not depend on z: J = 0
                return U.new_zeros(m, self.dim)
            (g,) = torch.autograd.grad(psi, z, grad_outputs=U.reshape(m, *psi.shape), is_grads_batched=True,
                                       retain_graph=True, allow_unused=True)
            return U.new_zeros(m, self.dim) if g is None else g.reshape(m, self.dim)

        return psi.detach(), pullback
