"""``invert``: find latent codes whose images match a target, optionally in a metric's eigenbasis."""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import checks
from .._progress import progress_bar
from ..errors import GanmetricError, InputError, NumericalWarning
from .basis import resolve_basis
from .images import as_target

OPTIMIZERS = ("adam", "sgd")
PIXEL_LOSSES = ("l1", "mse")


@dataclass(frozen=True)
class InversionResult:
    """The outcome of :func:`invert` (tensors on the CPU, detached).

    The loss of a code z is
    ``distance_weight * d(G(z), target) + pixel_weight * pixel(G(z), target)``, with pixel
    the mean absolute (``l1``) or squared (``mse``) difference over C, H, W.

    Attributes:
        z: (n,) the best code (lowest final loss over the restarts).
        image: (C, H, W) its image, in [-1, 1].
        loss: its final loss.
        best_restart: index of the restart it came from.
        codes: (R, n) the final code of every restart.
        losses: (R, steps) the loss of each restart at the start of each step.
        final_losses: (R,) the loss of each restart's final code.
        target: (C, H, W) the target as used (after reading, cropping, resizing).
        settings: every option that defines the run (seed, lr, steps, basis, ...).
        seconds: wall time.
    """

    z: torch.Tensor
    image: torch.Tensor
    loss: float
    best_restart: int
    codes: torch.Tensor
    losses: torch.Tensor
    final_losses: torch.Tensor
    target: torch.Tensor
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> dict:
        """JSON-ready summary: best loss and restart, final losses, settings, time."""
        return {"loss": self.loss, "best_restart": self.best_restart,
                "final_losses": [float(v) for v in self.final_losses], "steps": int(self.losses.shape[1]),
                "restarts": int(self.losses.shape[0]), "seconds": self.seconds, "settings": self.settings}


def initial_codes(latent_dim: int, restarts: int, seed: int) -> torch.Tensor:
    """Standard-normal starting codes (restarts, n), float64 on the CPU.

    Restart r draws from its own generator seeded by ``(seed, r)``, so restart r starts at
    the same code whatever the number of restarts (restarts are independent).
    """
    rows = []
    for r in range(restarts):
        state = np.random.SeedSequence([int(seed) % 2**64, r]).generate_state(2, dtype=np.uint32)
        gen = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
        rows.append(torch.randn(latent_dim, generator=gen, dtype=torch.float64))
    return torch.stack(rows)


def _real(name: str, value, *, positive: bool = False, nonneg: bool = False) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a real number, got {value!r}") from exc
    if not math.isfinite(value) or (positive and value <= 0) or (nonneg and value < 0):
        need = "positive" if positive else "non-negative" if nonneg else "finite"
        raise InputError(f"{name} must be {need}, got {value}")
    return value


def _device_dtype(G) -> tuple[torch.device, torch.dtype]:
    """Where G computes and in which float type (parameters first, then buffers, e.g. a fixed matrix)."""
    for t in list(G.parameters()) + list(G.buffers()):
        if t.is_floating_point():
            return t.device, t.dtype
    return torch.device("cpu"), torch.get_default_dtype()


def _loss_fn(D, targets, *, distance_weight, pixel_weight, pixel_loss):
    """Per-row loss of images (B, C, H, W) against ``targets`` (B or 1, C, H, W)."""
    feats = None
    if D is not None and distance_weight > 0 and getattr(D, "has_features", False):
        with torch.no_grad():  # the target's features are constant: compute them once
            feats = D.features(targets)

    def loss(x):
        total = x.new_zeros(x.shape[0])
        if D is not None and distance_weight > 0:
            d = (D.features(x) - feats).pow(2).sum(1) if feats is not None else D(x, targets.expand_as(x))
            total = total + distance_weight * d
        if pixel_weight > 0:
            diff = x - targets
            pix = diff.abs() if pixel_loss == "l1" else diff.pow(2)
            total = total + pixel_weight * pix.flatten(1).mean(1)
        return total

    return loss


def invert(G, target, distance=None, basis=None, *, steps: int = 500, lr: float = 0.05, restarts: int = 4,
           seed: int = 0, optimizer: str = "adam", distance_weight: float = 1.0, pixel_weight: float = 0.0,
           pixel_loss: str = "l1", eigval_power: float = 0.0, eigval_floor: float = 1e-6,
           basis_k: int | None = None, z_init=None, crop: str = "center", resample: str = "bicubic",
           progress: bool = False) -> InversionResult:
    """Invert a generator: find the code z whose image G(z) best matches ``target``.

    Minimises ``distance_weight * d(G(z), target) + pixel_weight * pixel(G(z), target)``
    from ``restarts`` starting codes at once (the rows of one (R, k) parameter; the per-row
    losses are summed, and Adam and SGD act per coordinate, so every restart evolves exactly
    as it would alone). With a ``basis`` the optimiser works on coefficients c with
    ``z = z_init + B c`` (see :mod:`ganmetric.inversion.basis`); the paper (Wang & Ponce,
    2021) finds Adam in the eigenbasis of the average metric inverts better than Adam in z,
    since Adam is not rotation-invariant. With ``optimizer="sgd"`` and an orthonormal
    (n, n) basis, the trajectory in z is the same as without a basis.

    Args:
        G: a :class:`~ganmetric.Generator`; not modified.
        target: a (C, H, W) or (1, C, H, W) tensor in [-1, 1], or an image path (read,
            centre-cropped and resized to G's images, see :func:`load_image`).
        distance: a :class:`~ganmetric.Distance`, a spec for :func:`~ganmetric.load_distance`
            (e.g. "mse"), or None for the pixel term alone.
        basis: None, an (n, n) or (n, k) matrix (columns), a MetricResult/LoadedResult, or
            a result/axes file path.
        steps: optimiser steps.
        lr: learning rate.
        restarts: number of starting codes, optimised as one batch.
        seed: seeds the starting codes (private generators; the global RNG is untouched).
        optimizer: "adam" or "sgd" (plain gradient descent, no momentum).
        distance_weight: weight of ``distance``.
        pixel_weight: weight of the pixel term (the paper added L1 or MSE to LPIPS).
        pixel_loss: "l1" or "mse".
        eigval_power: p in the basis scaling ``(lambda_i / lambda_1) ** -p`` (0: none).
        eigval_floor: relative floor on eigenvalues for that scaling.
        basis_k: use only the first k basis directions.
        z_init: starting codes (n,) or (R, n) instead of draws from N(0, I).
        crop, resample: image-file options of :func:`load_image`.
        progress: show a progress bar over the steps.

    Returns:
        InversionResult.

    Raises:
        InputError: bad target, image file, basis (wrong latent size), distance or option.
        GanmetricError: every restart diverged (non-finite loss).
    """
    t0 = time.perf_counter()
    n = int(G.latent_dim)
    checks.positive_int("steps", steps)
    checks.positive_int("restarts", restarts)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InputError(f"seed must be an integer, got {seed!r}")
    checks.one_of("optimizer", optimizer, OPTIMIZERS)
    checks.one_of("pixel loss", pixel_loss, PIXEL_LOSSES)
    lr = _real("lr", lr, positive=True)
    distance_weight = _real("distance_weight", distance_weight, nonneg=True)
    pixel_weight = _real("pixel_weight", pixel_weight, nonneg=True)
    device, dtype = _device_dtype(G)
    D = None
    if distance is not None and distance_weight > 0:
        from ..distances import load_distance
        D = load_distance(distance, device=device, dtype=str(dtype).replace("torch.", ""))
        d_dtype = next((t.dtype for t in list(D.parameters()) + list(D.buffers()) if t.is_floating_point()), dtype)
        if d_dtype != dtype:
            raise InputError(f"the distance is {d_dtype} but the generator is {dtype}; load both with the same dtype")
    if D is None and pixel_weight == 0:
        raise InputError("the loss is empty: give a distance with distance_weight > 0, or pixel_weight > 0")
    B, basis_info = resolve_basis(basis, n, eigval_power=eigval_power, eigval_floor=eigval_floor, k=basis_k,
                                  device=device, dtype=dtype)
    if z_init is None:
        z0 = initial_codes(n, restarts, int(seed))
    else:
        z0 = checks.latent_codes(z_init, n, name="z_init").detach().to(torch.float64).cpu()
        if z0.shape[0] == 1 and restarts > 1:
            z0 = z0.expand(restarts, n)
        if z0.shape[0] != restarts:
            raise InputError(f"z_init must have 1 or restarts={restarts} rows, got {z0.shape[0]}")
    z0 = z0.to(device=device, dtype=dtype)
    with torch.no_grad():
        shape = tuple(G(z0[:1]).shape[1:])
    tgt = as_target(target, shape, crop=crop, resample=resample, name=getattr(G, "name", "generator"))
    tgt = tgt.to(device=device, dtype=dtype)
    loss_fn = _loss_fn(D, tgt[None], distance_weight=distance_weight, pixel_weight=pixel_weight,
                       pixel_loss=pixel_loss)

    param = torch.zeros(restarts, n if B is None else B.shape[1], device=device, dtype=dtype, requires_grad=True)

    def codes():
        return z0 + (param if B is None else param @ B.T)

    opt = (torch.optim.Adam([param], lr=lr) if optimizer == "adam" else torch.optim.SGD([param], lr=lr))
    history = torch.empty(restarts, steps, dtype=torch.float64)
    bar = progress_bar(range(steps), enable=progress, desc="invert", unit="step")
    for t in bar:
        opt.zero_grad(set_to_none=True)
        per_row = loss_fn(G(codes()))
        per_row.sum().backward()  # rows are independent: each row's gradient is its own loss's
        opt.step()
        history[:, t] = per_row.detach().double().cpu()
        if progress and (t % 10 == 0 or t == steps - 1):
            bar.set_postfix(best=f"{float(history[:, t].min()):.4g}")
    with torch.no_grad():
        final_codes = codes().detach()
        images = G(final_codes)
        final = loss_fn(images).double().cpu()
    finite = torch.isfinite(final)
    if not finite.any():
        raise GanmetricError(f"every restart diverged (non-finite loss) with lr={lr}; lower the learning rate")
    if not finite.all():
        warnings.warn(f"{int((~finite).sum())} of {restarts} restarts diverged (non-finite loss); lower lr",
                      NumericalWarning, stacklevel=2)
    best = int(torch.where(finite, final, torch.full_like(final, math.inf)).argmin())
    settings = {"steps": steps, "lr": lr, "restarts": restarts, "seed": int(seed), "optimizer": optimizer,
                "distance": getattr(D, "name", None), "distance_options": getattr(D, "options", None),
                "distance_weight": distance_weight, "pixel_weight": pixel_weight, "pixel_loss": pixel_loss,
                "z_init": "given" if z_init is not None else "normal", "crop": crop, "resample": resample,
                "model": getattr(G, "name", None), "latent_dim": n, "dtype": str(dtype).replace("torch.", ""),
                "device": str(device), **basis_info}
    return InversionResult(z=final_codes[best].cpu(), image=images[best].detach().cpu(), loss=float(final[best]),
                           best_restart=best, codes=final_codes.cpu(), losses=history, final_losses=final,
                           target=tgt.detach().cpu(), settings=settings, seconds=time.perf_counter() - t0)
