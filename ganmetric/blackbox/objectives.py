"""Objectives of black-box optimisation: scores of images, to maximise, from a spec or a callable.

An objective takes a batch of images ``(B, C, H, W)`` in [-1, 1] (a torch tensor on the
generator's device) and returns ``B`` real scores: a tensor, an array or a list. It is called
under ``torch.no_grad()`` and never differentiated, so it may be anything: a recorded neuron,
a rating, a simulator. Specs (:data:`OBJECTIVES`):

- ``module.path:function``: a user's callable, imported the way ``--model module:factory`` is
  (installed, on ``PYTHONPATH``, or in the current directory);
- ``unit:torchvision:MODEL:LAYER:CHANNEL[:Y:X]``: a channel's mean activation (or one unit's)
  in a torchvision classifier (:mod:`ganmetric.blackbox.units`);
- ``image:PATH``: ``-d(G(z), target)``, the negative distance to a target image (black-box
  inversion).

What an objective returns is checked on every call (:meth:`Objective.__call__`): a wrong
shape, non-numbers, NaN or inf, or an exception raise :class:`ObjectiveError`, whose one-line
message names what came back.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import GanmetricError, InputError, first_line
from ..io import sha256_file
from ..usercode import FACTORY_PATTERN, import_factory

OBJECTIVES = {
    "module:function": "a Python callable images (B, C, H, W) in [-1, 1] -> B scores (module.path:function)",
    "unit": "unit:torchvision:MODEL:LAYER:CHANNEL[:Y:X], a channel's mean activation (or one unit's) in a "
            "torchvision classifier (alexnet, vgg16, resnet50)",
    "image": "image:PATH, the negative distance to a target image (black-box inversion)",
}
"""The spec forms, for help texts and messages."""


class ObjectiveError(GanmetricError):
    """The objective raised, or returned something other than one finite score per image.

    Attributes:
        result: what the run had when it stopped (an ``OptimizationResult``, set by the run loop), or None.
    """

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class Objective:
    """A checked objective: ``objective(images)`` returns float64 scores of shape (B,).

    Attributes:
        fn: the callable images -> scores.
        spec: how it was named (``module:function``, ``unit:...``, ``image:...``, or the
            callable's qualified name).
        record: its provenance for summaries (kind, spec, weights, distance, target digest...).
        description: one line for plots and printed summaries.
    """

    fn: Callable
    spec: str
    record: dict = field(default_factory=dict)
    description: str = ""

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        """Scores of a batch of images.

        Args:
            images: (B, C, H, W) in [-1, 1].

        Returns:
            float64 array (B,), all finite.

        Raises:
            ObjectiveError: the callable raised, or returned anything else.
        """
        try:
            with torch.no_grad():
                out = self.fn(images)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            raise ObjectiveError(f"the objective {self.spec} raised {type(exc).__name__}: {first_line(exc)}") from exc
        return check_scores(out, int(images.shape[0]), self.spec)


def _shape_of(out) -> str:
    return f"shape {tuple(out.shape)}" if hasattr(out, "shape") else f"a {type(out).__name__}"


def check_scores(out, batch: int, spec: str) -> np.ndarray:
    """What an objective returned, as float64 (batch,), or a one-line :class:`ObjectiveError`.

    Args:
        out: what the objective returned (a tensor, an array, a list...).
        batch: how many images it was given.
        spec: how messages name the objective.

    Returns:
        (batch,) float64 finite scores.

    Raises:
        ObjectiveError: not one real number per image (naming the shape or type that came),
            or NaN / infinite values (saying how many and where the first is).
    """
    where = f"the objective {spec} returned"
    if out is None:
        raise ObjectiveError(f"{where} None for {batch} images; expected {batch} scores (shape ({batch},))")
    if isinstance(out, torch.Tensor):
        if out.is_complex() or out.dtype == torch.bool:
            raise ObjectiveError(f"{where} a {str(out.dtype).replace('torch.', '')} tensor; expected real scores")
        arr = out.detach().cpu().double().numpy()
    else:
        try:
            arr = np.asarray(out)
        except Exception:  # ragged lists and the like
            arr = None
        if arr is None or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            what = _shape_of(out)
            if arr is not None and arr.dtype != object:
                what += f" holding {'text' if arr.dtype.kind in 'USa' else arr.dtype.name}"
            raise ObjectiveError(f"{where} {what}; expected {batch} real scores (shape ({batch},))")
        arr = arr.astype(np.float64)
    if arr.shape != (batch,):
        raise ObjectiveError(f"{where} {_shape_of(arr) if arr.ndim else 'one number'} for {batch} images; "
                             f"expected {batch} scores (shape ({batch},))")
    bad = ~np.isfinite(arr)
    if bad.any():
        kinds = " and ".join(k for k, m in (("NaN", np.isnan(arr)), ("inf", np.isinf(arr))) if m.any())
        raise ObjectiveError(f"{where} {kinds} for {int(bad.sum())} of {batch} images (first at index "
                             f"{int(np.flatnonzero(bad)[0])}); scores must be finite")
    return arr


def _image_shape(G) -> tuple[int, int, int]:
    from ..placement import placement
    with torch.no_grad():
        x = G(torch.zeros(1, G.latent_dim, **placement(G)))
    return tuple(int(s) for s in x.shape[1:])


def image_objective(path, G, distance, *, max_pixels: int | None = None) -> Objective:
    """``-d(G(z), target)`` for a target image file, read as :func:`ganmetric.inversion.load_image` reads it.

    Args:
        path: a PNG/JPEG; converted to the generator's channels, centre-cropped and resized to its images.
        G: the generator (its image shape).
        distance: a Distance (see :func:`ganmetric.load_distance`).
        max_pixels: refuse a larger image file from its header (default
            :data:`ganmetric.inversion.DEFAULT_MAX_PIXELS`, 50 megapixels).

    Raises:
        InputError: a missing or unreadable image, or one over ``max_pixels``.
    """
    from ..distances import describe_distance, distance_meta
    from ..inversion.images import DEFAULT_MAX_PIXELS, as_target
    from ..placement import placement

    limit = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    target = as_target(str(path), _image_shape(G), max_pixels=limit, argument="objective").to(**placement(G))[None]
    D = distance.to(**placement(G))
    with torch.no_grad():
        feats = D.features(target) if D.has_features else None

    def score(images):
        if feats is not None:
            return -(D.features(images) - feats).pow(2).sum(1)
        return -D(images, target.expand_as(images))

    record = {"kind": "image", "spec": f"image:{path}", "target": str(path),
              "target_sha256": sha256_file(path), **distance_meta(D)}
    return Objective(score, f"image:{path}", record,
                     f"-{describe_distance(D)} to {Path(path).name}")


def load_objective(objective, G=None, *, distance=None, weights=None, device=None,
                   max_pixels: int | None = None) -> Objective:
    """An :class:`Objective` from a spec string, a callable, or an Objective (returned as is).

    Args:
        objective: ``module.path:function``, ``unit:torchvision:MODEL:LAYER:CHANNEL[:Y:X]``,
            ``image:PATH``, a callable images -> scores, or an Objective.
        G: the generator (needed by ``image:``: the image shape and device; ``unit:`` runs on its device).
        distance: ``image:`` only: a Distance or a spec (default ``lpips-alex``).
        weights: ``unit:`` only: ``pretrained`` (default), ``random``, ``random:SEED`` or a state-dict path.
        device: where a ``unit:`` network runs (default: G's device, else cpu).
        max_pixels: ``image:`` only: the largest target image accepted (see :func:`image_objective`).

    Returns:
        The :class:`Objective` (its ``spec`` and ``record`` go into summaries).

    Raises:
        InputError: an unknown form, a module or function that cannot be imported, an option
            given to an objective that does not use it, a bad unit or image.
        WeightsError: a unit network's weights cannot be obtained.
    """
    if isinstance(objective, Objective):
        return objective
    if callable(objective) and not isinstance(objective, str):
        _refuse_unused(objective="a callable", distance=distance, weights=weights, max_pixels=max_pixels)
        name = getattr(objective, "__qualname__", type(objective).__name__)
        module = getattr(objective, "__module__", None)
        spec = f"{module}:{name}" if module else name
        return Objective(objective, spec, {"kind": "callable", "spec": spec}, spec)
    if not isinstance(objective, str):
        raise InputError(f"objective must be a spec string or a callable, got {type(objective).__name__}",
                         argument="objective")
    if objective.startswith("unit:"):
        from .units import unit_objective
        _refuse_unused(objective="unit:", distance=distance, max_pixels=max_pixels)
        if device is None:
            device = G.device if G is not None else "cpu"
        return unit_objective(objective, weights=weights or "pretrained", device=device)
    if objective.startswith("image:"):
        _refuse_unused(objective="image:", weights=weights)
        if G is None:
            raise InputError("an image: objective needs the generator (its image shape)", argument="G")
        from ..distances import load_distance
        from ..placement import placement
        D = load_distance(distance or "lpips-alex", **placement(G))
        return image_objective(objective[len("image:"):], G, D, max_pixels=max_pixels)
    if FACTORY_PATTERN.match(objective):
        _refuse_unused(objective=objective, distance=distance, weights=weights, max_pixels=max_pixels)
        return Objective(import_factory(objective, what="objective"), objective, {"kind": "function", "spec": objective},
                         objective)
    raise InputError(f"objective must be one of: {'; '.join(OBJECTIVES.values())}; got {objective}",
                     argument="objective")


def _refuse_unused(*, objective: str, distance=None, weights=None, max_pixels=None) -> None:
    """Refuse a distance or max_pixels for objectives other than image:, and weights for objectives other than unit:."""
    if max_pixels is not None:
        raise InputError(f"max_pixels is used only by image: objectives, not by {objective}", argument="max_pixels")
    if distance is not None:
        raise InputError(f"distance is used only by image: objectives, not by {objective}", argument="distance")
    if weights is not None:
        raise InputError(f"objective_weights is used only by unit: objectives, not by {objective}",
                         argument="objective_weights")
