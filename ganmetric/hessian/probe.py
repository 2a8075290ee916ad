"""The determinism probe: the metric needs G and the distance to be a deterministic, row-independent map.

Every batched product puts many codes into one pass, which is right only when a code's output
does not depend on the rest of its batch (train-mode BatchNorm breaks it) nor change between
two calls (dropout, noise injection). The probe evaluates z0 inside a batch of two when it is
made, and :meth:`DeterminismProbe.check` compares that with z0 evaluated alone: a value the
method's own first pass computed (the primal that ``jacobian`` and ``gn-lanczos`` return), or
one evaluation of :attr:`Objective.x0` (which the other methods need anyway). So the probe
costs one evaluation of two codes.
"""
from __future__ import annotations

import torch

from ..errors import NonFiniteError, NotDeterministicError
from .objective import Objective


class DeterminismProbe:
    """z0 evaluated inside a batch of two, to be compared with z0 evaluated alone.

    What is compared: the distance's unscaled features when it has them (what
    :meth:`Objective.psi_unscaled` gives), otherwise what it compares, flattened.

    Args:
        obj: the objective.
        rtol: largest difference allowed, relative to the largest value (default 1e-4 in
            float32, 1e-9 in float64).

    Attributes:
        done: whether :meth:`check` has run.

    Raises:
        NonFiniteError: the generator's output at z0 holds NaN or inf.
    """

    def __init__(self, obj: Objective, *, rtol: float | None = None):
        self.obj, self.done = obj, False
        self.rtol = rtol if rtol is not None else (1e-4 if obj.z0.dtype == torch.float32 else 1e-9)
        g = torch.Generator(device="cpu").manual_seed(12345)
        other = obj.z0 + torch.randn(obj.z0.shape, generator=g, dtype=torch.float64, device="cpu").to(obj.z0)
        with torch.no_grad():
            inputs = obj.inputs(torch.stack([obj.z0, other]))
        _check_finite_output(obj, inputs[:1])
        self._in_batch = compared(obj, inputs)[:1]

    def check(self, alone: torch.Tensor | None = None) -> None:
        """Compare z0 evaluated alone with z0's row of the batch of two.

        Only when they differ is z0 evaluated alone once more, to say which check failed.

        Args:
            alone: what the probe compares for z0 evaluated by itself, e.g. the primal a
                method's first pass returned, ``psi_unscaled(z0[None])`` (1, F); None:
                taken from :attr:`Objective.x0`.

        Raises:
            NotDeterministicError: naming which check failed and by how much.
            NonFiniteError: the features of the generator's output are not finite.
        """
        obj, in_batch, self.done = self.obj, self._in_batch, True
        alone = compared(obj, obj.x0) if alone is None else alone
        alone = alone.detach().reshape(in_batch.shape).to(in_batch.dtype)
        if not (torch.isfinite(alone).all() and torch.isfinite(in_batch).all()):  # NaN never equals NaN
            _check_finite_output(obj, obj.x0)
            raise NonFiniteError(f"{obj.G.name}: the distance's features of the generator's output are not finite "
                                 f"at this code (NaN or inf)")
        scale = alone.abs().max().clamp_min(1e-30)
        if (alone - in_batch).abs().max() <= self.rtol * scale:
            return
        with torch.no_grad():
            again = compared(obj, obj.inputs(obj.z0[None]))
        if (alone - again).abs().max() > self.rtol * scale:
            raise NotDeterministicError(
                f"{obj.G.name}: two evaluations of the same code differ by {float((alone - again).abs().max()):.3g} "
                f"(dropout or random noise active?); the metric needs a deterministic generator")
        raise NotDeterministicError(
            f"{obj.G.name}: a code's output changes with the other codes in its batch "
            f"(train-mode BatchNorm?); put the model in eval mode")


def probe_determinism(obj: Objective, *, rtol: float | None = None) -> None:
    """Raise if the composed map is not a deterministic, row-independent function of z.

    Compares z0 evaluated alone (the objective's :attr:`~Objective.x0`) with z0 inside a
    batch of two (see :class:`DeterminismProbe`).

    Args:
        obj: the :class:`~ganmetric.hessian.Objective` (generator, distance and base point).
        rtol: relative tolerance of the comparison (default 1e-4 in float32, 1e-9 in float64).

    Raises:
        NotDeterministicError: naming which check failed and by how much.
        NonFiniteError: the generator's output at z0 is not finite.
    """
    DeterminismProbe(obj, rtol=rtol).check()


def compared(obj: Objective, inputs: torch.Tensor) -> torch.Tensor:
    """What the probe compares for these distance inputs: the distance's unscaled features
    when it has them (what ``psi_unscaled`` gives), else the inputs, flattened."""
    with torch.no_grad():
        return obj.unscaled_features(inputs) if obj.D.has_features else inputs.flatten(1)


def _check_finite_output(obj: Objective, inputs: torch.Tensor) -> None:
    """Raise NonFiniteError when what the distance compares at z0 (the image) holds NaN or inf."""
    if not torch.isfinite(inputs).all():
        raise NonFiniteError(f"{obj.G.name}: the generator's output is not finite at this code (NaN or inf "
                             f"values); the metric needs a finite output")
