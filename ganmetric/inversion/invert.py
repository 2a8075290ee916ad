"""``invert``: find latent codes whose images match a target, optionally in a metric's eigenbasis.

Two steps, each callable alone: :func:`~ganmetric.inversion.prepare_inversion` checks every
input and loads the distance, basis and target (quick; nothing is optimised or written),
:func:`run_inversion` optimises. :func:`invert` does both.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import torch

from .._progress import progress_bar
from ..errors import GanmetricError, NumericalWarning
from ..placement import placement
from ..precision import exact_float32
from .problem import OPTIMIZERS, Inversion, prepare_inversion
from .quality import SSIM_WINDOW, psnr, ssim


@dataclass(frozen=True)
class InversionResult:
    """The outcome of :func:`invert` (tensors on the CPU, detached).

    The loss of a code z is
    ``distance_weight * d(G(z), target) + pixel_weight * pixel(G(z), target)``, with pixel
    the mean absolute (``l1``) or squared (``mse``) difference over C, H, W.

    Attributes:
        z: (n,) the best code (lowest final loss over the restarts run).
        image: (C, H, W) its image G(z), in [-1, 1].
        loss: its final loss.
        best_restart: index of the restart it came from.
        codes: (R, n) the final code of every restart run (R: all of them unless interrupted).
        losses: (R, steps) the loss of each restart at the start of each step (NaN for steps
            an interrupted run did not take).
        final_losses: (R,) the loss of each restart's final code.
        target: (C, H, W) the target as used (after reading, cutting, cropping, resizing).
        settings: every option that defines the run (seed, lr, steps, basis, ...).
        seconds: wall time.
        steps_done: (R,) the steps each restart took (``steps`` each unless interrupted).
        interrupted: ``stop()`` ended the run early: the result holds the restarts started,
            each at the step it had reached, and the best of those codes.
        fit: how close the fit is: ``distance_name`` and ``distance`` (d(G(z), target) under
            the chosen distance, None without one), ``psnr_db`` and ``ssim`` (see
            :mod:`ganmetric.inversion.quality`; SSIM is None for images smaller than its
            11 x 11 window), and with a known code ``true_z``: ``true_z_cosine`` (cosine
            similarity of z and true_z) and ``true_z_l2`` (|z - true_z|), else None.
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
    fit: dict = field(default_factory=dict)
    steps_done: tuple = ()
    interrupted: bool = False

    @property
    def basis_label(self) -> str:
        """Which basis the run optimised in: "none", or its source, k and eigenvalue power."""
        s = self.settings
        if s.get("basis") is None:
            return "none"
        return f"{s['basis']}, k={s['basis_k']}, eigval power {s['eigval_power']:g}"

    def summary(self) -> dict:
        """JSON-ready summary: best loss and restart, final losses, fit quality, settings, time,
        whether the run was interrupted and the steps each restart took."""
        return {"loss": self.loss, "best_restart": self.best_restart,
                "final_losses": [float(v) for v in self.final_losses], "steps": int(self.losses.shape[1]),
                "restarts": int(self.losses.shape[0]), "fit": dict(self.fit), "basis_label": self.basis_label,
                "seconds": self.seconds, "settings": self.settings, "interrupted": self.interrupted,
                "steps_done": [int(s) for s in self.steps_done]}



def _loss_fn(p: Inversion):
    """Per-row loss of images (B, C, H, W) against the target."""
    targets = p.target[None]
    D = p.D if p.distance_weight > 0 else None
    feats = None
    if D is not None and getattr(D, "has_features", False):
        with torch.no_grad():  # the target's features are constant: compute them once
            feats = D.features(targets)

    def loss(x):
        total = x.new_zeros(x.shape[0])
        if D is not None:
            d = (D.features(x) - feats).pow(2).sum(1) if feats is not None else D(x, targets.expand_as(x))
            total = total + p.distance_weight * d
        if p.pixel_weight > 0:
            diff = x - targets
            pix = diff.abs() if p.pixel_loss == "l1" else diff.pow(2)
            total = total + p.pixel_weight * pix.flatten(1).mean(1)
        return total

    return loss


def _optimise(p: Inversion, loss_fn, z0: torch.Tensor, *, progress: bool, desc: str, stop=None):
    """Optimise one chunk of restarts (rows of one parameter: per-row losses are summed, and
    Adam and SGD act per coordinate, so every restart evolves exactly as it would alone).

    ``stop()`` is asked before every step; when it returns True the chunk ends there.

    Returns:
        (final codes (r, n) on the CPU, loss per step (r, steps) float64 (NaN for steps not
        taken), final losses (r,) float64, steps taken).
    """
    B = p.B
    param = torch.zeros(z0.shape[0], z0.shape[1] if B is None else B.shape[1], dtype=z0.dtype,
                        device=z0.device, requires_grad=True)

    def codes():
        return z0 + (param if B is None else param @ B.T)

    opt = OPTIMIZERS[p.optimizer]([param], lr=p.lr)
    history = torch.full((z0.shape[0], p.steps), math.nan, dtype=torch.float64, device="cpu")
    bar = progress_bar(range(p.steps), enable=progress, desc=desc, unit="step")
    taken = 0
    for t in bar:
        if stop is not None and stop():
            break
        taken = t + 1
        opt.zero_grad(set_to_none=True)
        per_row = loss_fn(p.G(codes()))
        per_row.sum().backward()  # rows are independent: each row's gradient is its own loss's
        opt.step()
        history[:, t] = per_row.detach().double().cpu()
        if progress and (t % 10 == 0 or t == p.steps - 1):
            bar.set_postfix(best=f"{float(history[:, t].min()):.4g}")
    with torch.no_grad():
        final_codes = codes().detach()
        final = loss_fn(p.G(final_codes)).double().cpu()
    return final_codes.cpu(), history, final, taken


def _best(final: torch.Tensor, lr: float) -> int:
    """Index of the lowest finite final loss.

    Raises:
        GanmetricError: every restart diverged.
    """
    finite = torch.isfinite(final)
    if not finite.any():
        raise GanmetricError(f"every restart diverged (non-finite loss) with lr={lr:g}; lower the learning rate")
    if not finite.all():
        warnings.warn(f"{int((~finite).sum())} of {len(final)} restarts diverged (non-finite loss); lower lr",
                      NumericalWarning, stacklevel=3)
    return int(torch.where(finite, final, torch.full_like(final, math.inf)).argmin())


def _fit_quality(p: Inversion, z: torch.Tensor, image: torch.Tensor) -> dict:
    """The fit's distance to the target, PSNR, SSIM, and its distance to the known code."""
    x, y = image[None], p.target[None]
    with torch.no_grad():
        dist = float(p.D(x, y)[0]) if p.D is not None else None
    fit = {"distance_name": getattr(p.D, "name", None), "distance": dist, "psnr_db": float(psnr(x, y)[0]),
           "ssim": float(ssim(x, y)[0]) if min(x.shape[-2:]) >= SSIM_WINDOW else None,
           "true_z_cosine": None, "true_z_l2": None}
    if p.true_z is not None:
        z = z.double().cpu()
        norms = float(z.norm() * p.true_z.norm())
        fit["true_z_cosine"] = float(z @ p.true_z) / norms if norms > 0 else None  # undefined for a zero code
        fit["true_z_l2"] = float((z - p.true_z).norm())
    return fit


@exact_float32
def run_inversion(p: Inversion, *, progress: bool = False, stop=None) -> InversionResult:
    """Optimise a prepared inversion, ``chunk`` restarts at a time.

    Minimises ``distance_weight * d(G(z), target) + pixel_weight * pixel(G(z), target)``
    from every starting code. With a basis the optimiser works on coefficients c with
    ``z = z_init + B c`` (see :mod:`ganmetric.basis`); the paper (Wang & Ponce,
    2021) finds Adam in the eigenbasis of the average metric inverts better than Adam in z,
    since Adam is not rotation-invariant. With ``optimizer="sgd"`` and an orthonormal
    (n, n) basis, the trajectory in z is the same as without a basis.

    Args:
        p: from :func:`prepare_inversion`.
        progress: show a progress bar over the steps of each chunk.
        stop: called before every step; when it returns True the run ends after the current
            step (the CLI sets it from Ctrl-C). The result then holds the restarts started so
            far, each at the step it reached, the best of their codes, and ``interrupted``.

    Returns:
        InversionResult.

    Raises:
        GanmetricError: every restart diverged (non-finite loss).
    """
    t0 = time.perf_counter()
    loss_fn = _loss_fn(p)
    parts, steps_done = [], []
    for lo in range(0, p.restarts, p.chunk):
        if parts and stop is not None and stop():
            break
        rows = range(lo, min(lo + p.chunk, p.restarts))
        desc = "invert" if len(rows) == p.restarts else f"invert restarts {rows.start}-{rows.stop - 1}/{p.restarts}"
        *part, taken = _optimise(p, loss_fn, p.start_codes(rows), progress=progress, desc=desc, stop=stop)
        parts.append(part)
        steps_done += [taken] * len(rows)
    codes, history, final = (torch.cat(part) for part in zip(*parts))
    interrupted = len(steps_done) < p.restarts or min(steps_done) < p.steps
    best = _best(final, p.lr)
    with torch.no_grad():
        image = p.G(codes[best][None].to(**placement(p.G)))[0].detach()
    return InversionResult(z=codes[best], image=image.cpu(), loss=float(final[best]), best_restart=best,
                           codes=codes, losses=history, final_losses=final, target=p.target.detach().cpu(),
                           settings=p.settings, seconds=time.perf_counter() - t0,
                           fit=_fit_quality(p, codes[best], image), steps_done=tuple(steps_done),
                           interrupted=interrupted)


def invert(G, target, distance=None, basis=None, *, progress: bool = False, **options) -> InversionResult:
    """Invert a generator: find the code z whose image G(z) best matches ``target``.

    ``run_inversion(prepare_inversion(G, target, distance, basis, **options), progress=progress)``:
    see :func:`prepare_inversion` for every option (steps, lr, restarts, seed, optimizer,
    distance_weight, pixel_weight, pixel_loss, eigval_power, eigval_floor, basis_k, z_init,
    true_z, chunk, box, crop, resample) and :func:`run_inversion` for the optimisation.

    Args:
        G: a :class:`~ganmetric.Generator`; not modified.
        target: a (C, H, W) tensor in [-1, 1], or an image path.
        distance: a Distance, a spec (e.g. "mse"), or None for the pixel term alone.
        basis: None, a matrix of column directions, a metric result or axes, or a file path.
        progress: show a progress bar.
        **options: keyword options of :func:`prepare_inversion`.

    Returns:
        InversionResult.

    Raises:
        InputError: any bad input (see :func:`prepare_inversion`); TypeError: an unknown option.
        GanmetricError: every restart diverged (non-finite loss).
    """
    return run_inversion(prepare_inversion(G, target, distance, basis, **options), progress=progress)
