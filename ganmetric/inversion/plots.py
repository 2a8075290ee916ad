"""PNG figures of an inversion (returned as bytes, so that callers write them atomically).

Both figures say what was run: the model, the distance, the basis (none, or its source,
k and eigenvalue power) and how close the fit came (loss, PSNR, SSIM).
"""
from __future__ import annotations

import numpy as np

from ..plotting import figure, figure_png_bytes, to_uint8

#: the loss curve draws at most this many restarts (the best one and the first others)
MAX_CURVES = 20


def _caption(result) -> str:
    s, fit = result.settings, result.fit
    ssim = f"{fit['ssim']:.3f}" if fit.get("ssim") is not None else "n/a (image < 11 px)"
    lines = [f"{s.get('model')}  |  distance {s.get('distance') or 'none'}"
             + (f" + {s['pixel_weight']:g} x {s['pixel_loss']}" if s.get("pixel_weight") else "")
             + f"  |  basis: {result.basis_label}",
             f"{_run_words(result)} ({s['optimizer']}, lr {s['lr']:g}): "
             f"loss {result.loss:.4g}, PSNR {fit['psnr_db']:.2f} dB, SSIM {ssim}"]
    if fit.get("true_z_l2") is not None:
        cos = f"{fit['true_z_cosine']:.3f}" if fit["true_z_cosine"] is not None else "undefined (a zero code)"
        lines.append(f"to the known code: cosine similarity {cos}, L2 {fit['true_z_l2']:.3f}")
    return "\n".join(lines)


def _run_words(result) -> str:
    """"best of R restarts x S steps", or what an interrupted run reached."""
    s = result.settings
    if not getattr(result, "interrupted", False):
        return f"best of {s['restarts']} restarts x {s['steps']} steps"
    done = sorted(set(result.steps_done))
    steps = f"{done[0]}" if len(done) == 1 else f"{done[0]}-{done[-1]}"
    return (f"INTERRUPTED: best of the {len(result.steps_done)} of {s['restarts']} restarts run, after {steps} of "
            f"{s['steps']} steps")


def side_by_side_png(result) -> bytes:
    """A PNG with the target (left) and the fitted image (right) of an :class:`InversionResult`, captioned.

    Args:
        result: the :class:`InversionResult`.

    Returns:
        The figure as PNG bytes.
    """
    fig = figure(figsize=(6.4, 3.9))
    grey = result.target.shape[0] == 1
    for ax, img, name in zip(fig.subplots(1, 2), (result.target, result.image), ("target", "fit")):
        pix = to_uint8(img)
        ax.imshow(pix[..., 0] if grey else pix, cmap="gray" if grey else None, vmin=0, vmax=255,
                  interpolation="nearest")
        ax.set_title(name)
        ax.axis("off")
    fig.suptitle(_caption(result), fontsize=8)
    return figure_png_bytes(fig, dpi=100, bbox_inches="tight")


def loss_curve_png(result) -> bytes:
    """A PNG of the loss per step (log scale when positive) of an :class:`InversionResult`.

    One line per restart, the best one in bold; with more than :data:`MAX_CURVES` restarts,
    the best and the first others are drawn and the title says how many.

    Args:
        result: the :class:`InversionResult`.

    Returns:
        The figure as PNG bytes.
    """
    vals = result.losses.detach().double().cpu().numpy()
    best = result.best_restart
    shown = [best] + [r for r in range(len(vals)) if r != best][:MAX_CURVES - 1]
    fig = figure(figsize=(6.4, 4.4))
    ax = fig.subplots()
    for r in sorted(shown):
        bold = r == best
        ax.plot(vals[r], lw=2.0 if bold else 0.9, alpha=1.0 if bold else 0.6,
                label=f"restart {r}" + (" (best)" if bold else ""))
    drawn = vals[shown][np.isfinite(vals[shown])]   # an interrupted run has NaN for the steps not taken
    if drawn.size and (drawn > 0).all():
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if len(shown) <= 10:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    more = f"\n(showing {len(shown)} of {len(vals)} restarts, the best in bold)" if len(shown) < len(vals) else ""
    ax.set_title(_caption(result) + more, fontsize=8)
    return figure_png_bytes(fig, dpi=100, bbox_inches="tight")
