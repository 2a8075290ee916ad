"""PNG figures of an inversion (returned as bytes, so that callers write them atomically)."""
from __future__ import annotations

import io

import torch


def _to_hwc(image: torch.Tensor):
    arr = ((image.detach().float().cpu().clamp(-1, 1) + 1) / 2).numpy()
    return arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def side_by_side_png(target: torch.Tensor, fit: torch.Tensor, *, title: str | None = None) -> bytes:
    """A PNG with the target (left) and the fitted image (right), both (C, H, W) in [-1, 1]."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 2, figsize=(6, 3.3))
    grey = target.shape[0] == 1
    for ax, img, name in zip(axs, (target, fit), ("target", "fit")):
        ax.imshow(_to_hwc(img), cmap="gray" if grey else None, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(name)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    return _png(fig)


def loss_curve_png(losses: torch.Tensor, *, best: int | None = None, title: str | None = None) -> bytes:
    """A PNG of the loss per step (log scale), one line per restart, the best one in bold.

    Args:
        losses: (R, steps).
        best: index of the restart to highlight.
        title: optional figure title.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vals = losses.detach().double().cpu().numpy()
    fig, ax = plt.subplots(figsize=(6, 4))
    for r, row in enumerate(vals):
        bold = r == best
        ax.plot(row, lw=2.0 if bold else 0.9, alpha=1.0 if bold else 0.6,
                label=f"restart {r}" + (" (best)" if bold else ""))
    if (vals > 0).all():
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if len(vals) <= 10:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    return _png(fig)
