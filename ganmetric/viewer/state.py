"""The viewer's model side: one generator with its axes and distance, answering the page's requests.

Slider ranges are calibrated by the metric. Along axis i, ``d(G(z0), G(z0 + t u_i)) ~
lambda_i t^2 / 2``, so the slider's end ``t_max_i = sqrt(2 d_max / lambda_i)`` moves the image
by about ``d_max`` on every axis: slider travel means the same change everywhere. ``t_max``
is capped where :func:`ganmetric.axes.calibrate_steps` stops searching (2 sqrt(n) latent
units, past the prior's shell). On the sphere the slider is the angle of
:func:`ganmetric.axes.apply_axis` (``sphere=True``), which moves z by about ``|z0| t``, so its
end is ``t_max_i / |z0|``, capped at pi.

Plain Python, no web framework: ``ganmetric.viewer.app`` puts a :class:`Viewer` behind HTTP
and runs every call on one worker thread, so the generator never runs twice at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import checks
from ..axes import apply_axis, check_axes_for, explore_montage, reference_code
from ..axes import search_bound
from ..distances import describe_distance
from ..errors import InputError
from ..generators import describe_model
from ..io import npy_bytes
from ..placement import check_same_dtype, cpu_tensor, placement
from ..plotting import image_bytes
from . import protocol

DEFAULT_D_MAX = 0.1
"""The distance a slider's end moves the image by, until the page or ``--d-max`` changes it."""


@dataclass(frozen=True)
class Rendered:
    """One rendered code.

    Attributes:
        png: the image, PNG bytes at the generator's resolution.
        code: (n,) float64, the code rendered.
        distance: d(G(z0), G(code)) with the viewer's distance, or None without one.
        reference_png: the reference image as PNG bytes, when asked for; else None.
        reference_label: how the reference was chosen ("seed 3", "the axes' source point", ...).
        reference_norm: |z0|.
    """

    png: bytes
    code: np.ndarray
    distance: float | None
    reference_png: bytes | None
    reference_label: str
    reference_norm: float


class Viewer:
    """A generator, its metric axes and distance, and the renders the viewer page asks for.

    Args:
        G: the generator (loaded once; its device and dtype are used as they are).
        axes: :class:`~ganmetric.axes.Axes` for ``G`` (the latent size is checked here; the recorded
            model is checked by whoever loads ``G`` from the axes' record).
        D: the distance shown under the image (the one the axes were computed with), or None.
        d_max: the default distance a slider's end stands for.

    Raises:
        InputError: axes of another latent size, a distance of another dtype than the generator, or a d_max
            that is not a positive finite number.
    """

    def __init__(self, G, axes, D=None, *, d_max: float = DEFAULT_D_MAX):
        check_axes_for(axes, G, check_model=False)
        check_same_dtype(G, D)
        self.G, self.axes, self.D = G, axes, D
        self.d_max = checks.positive_float("d_max", d_max)
        self._cached = (None, None)  # (reference code bytes, its image): a slider drag keeps the reference
        x0 = self._reference_image(self.reference()[0])
        self.image_size = [int(s) for s in x0.shape[-2:]]

    @property
    def n_axes(self) -> int:
        """K, the number of axes (one slider each)."""
        return self.axes.top

    def max_step(self, sphere: bool) -> float:
        """The sliders' cap: 2 sqrt(n) latent units, or pi radians on the sphere."""
        return search_bound(None, sphere, self.G.latent_dim)

    def reference(self, seed: int | None = None, z0=None) -> tuple[np.ndarray, str]:
        """The reference code (n,) float64 and its label: ``z0`` as given, else ``G.sample(1, seed)``,
        else the axes' source point (single-point metrics) or seed 0."""
        if z0 is not None:
            return np.asarray(z0, dtype=np.float64).reshape(-1), "the code sent"
        codes, label = reference_code(self.axes, self.G, seed)
        return codes[0], label

    def ranges(self, d_max: float | None = None, *, sphere: bool = False, radius: float = 1.0) -> np.ndarray:
        """(K,) the sliders' ends ``sqrt(2 d_max / lambda_i)`` (divided by ``radius`` = |z0| on the sphere),
        capped at :meth:`max_step`; an axis with lambda <= 0 gets the cap.

        Raises:
            InputError: a d_max or radius that is not a positive finite number.
        """
        d_max = self.d_max if d_max is None else checks.positive_float("d_max", d_max)
        radius = checks.positive_float("radius", radius) if sphere else 1.0
        lam = np.asarray(self.axes.eigvals, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.sqrt(2.0 * d_max / np.where(lam > 0, lam, np.nan)) / radius
        cap = self.max_step(sphere)
        return np.where(np.isfinite(t), np.minimum(t, cap), cap)

    def info(self, *, d_max: float | None = None, sphere: bool = False, seed: int | None = None) -> dict:
        """What the page shows before any render: model, distance, eigenvalues, slider ranges (JSON values)."""
        d_max = self.d_max if d_max is None else d_max
        z0, label = self.reference(seed)
        radius = float(np.linalg.norm(z0))
        return {"model": self.G.name, "model_description": describe_model(self.G),
                "latent_space": getattr(self.G, "latent_space", None), "latent_dim": int(self.G.latent_dim),
                "image_size": self.image_size,
                "distance": None if self.D is None else describe_distance(self.D),
                "source": self._source_name(),
                "axes": self.n_axes, "eigvals": [float(v) for v in self.axes.eigvals],
                "d_max": d_max, "default_d_max": self.d_max, "sphere": sphere,
                "ranges": [float(t) for t in self.ranges(d_max, sphere=sphere, radius=radius or 1.0)],
                "max_step": self.max_step(sphere), "unit": "rad" if sphere else "latent units",
                "reference": {"seed": seed, "label": label, "norm": radius},
                "max_seed": protocol.MAX_SEED}

    def _source_name(self) -> str | None:
        """The file the axes come from: the axis file, else the result file they were taken from."""
        if self.axes.path is not None:
            return self.axes.path.name
        path = (self.axes.meta.get("source") or {}).get("path")
        return None if path in (None, "None") else Path(path).name

    def code(self, z0, coefficients, *, sphere: bool = False) -> np.ndarray:
        """The code for slider values: ``z0 + sum_i c_i u_i``; on the sphere, ``z0`` rotated toward each
        axis with a non-zero coefficient in turn (axis order) by ``c_i`` radians (:func:`apply_axis`).

        Args:
            z0: (n,) reference code.
            coefficients: (K,) one amount per axis.
            sphere: rotate on the sphere of radius |z0|.

        Returns:
            (n,) float64.

        Raises:
            InputError: on the sphere, a zero z0 or an axis parallel to the code.
        """
        z0 = np.asarray(z0, dtype=np.float64).reshape(-1)
        c = np.asarray(coefficients, dtype=np.float64).reshape(-1)
        if not sphere:
            return z0 + c @ self.axes.axes
        z = z0
        try:
            for i in np.flatnonzero(c):
                z = apply_axis(z, self.axes, int(i), float(c[i]), sphere=True)
        except InputError as exc:  # the code moved is the request's z0, rotated (its norm kept)
            if exc.argument == "z":
                exc.argument = "z0"
            raise
        return z

    def render_request(self, data: dict) -> protocol.RenderRequest:
        """Validate a render request body for these axes (see :func:`protocol.render_request`)."""
        cap = protocol.COEFFICIENT_SLACK * max(self.max_step(False), self.max_step(True))
        return protocol.render_request(data, n_axes=self.n_axes, latent_dim=self.G.latent_dim, max_coefficient=cap)

    def render(self, request: protocol.RenderRequest) -> Rendered:
        """The image, code and distance for a validated request.

        Raises:
            InputError: a move on the sphere that is undefined (zero z0, an axis parallel to the code).
        """
        z0, label = self.reference(request.seed, request.z0)
        z = self.code(z0, request.coefficients, sphere=request.sphere)
        x0 = self._reference_image(z0)
        x = self._images(z[None])
        distance = None
        if self.D is not None:
            with torch.no_grad():
                distance = float(self.D(x0, x).reshape(-1)[0])
        ref_png = image_bytes(x0[0].cpu()) if request.with_reference else None
        return Rendered(image_bytes(x[0].cpu()), z, distance, ref_png, label, float(np.linalg.norm(z0)))

    def code_npy(self, request: protocol.RenderRequest) -> bytes:
        """The code of a request as ``.npy`` bytes ((n,) float64), as ``axes apply`` writes codes."""
        z0, _ = self.reference(request.seed, request.z0)
        return npy_bytes(self.code(z0, request.coefficients, sphere=request.sphere))

    def strip(self, *, axis: int, d_max: float | None = None, sphere: bool = False, seed: int | None = None,
              steps: int = 7, scale: int = 1) -> bytes:
        """The explore row of one axis at the reference, across the slider's range, as PNG bytes.

        Raises:
            InputError: an axis out of range, or bad steps or scale.
        """
        d_max = self.d_max if d_max is None else d_max
        z0, label = self.reference(seed)
        t_max = float(self.ranges(d_max, sphere=sphere, radius=float(np.linalg.norm(z0)) or 1.0)[axis])
        move = "rotation by t rad toward the axis" if sphere else "z0 + t u"
        title = f"axis {axis} from {label}: {move}, t in [-{t_max:.3g}, {t_max:.3g}] (the slider's range, " \
                f"d_max {d_max:g})"
        montage = explore_montage(self.G, z0, self.axes, indices=[axis], steps=steps, amount_range=t_max,
                                  sphere=sphere, scale=scale, title=title)
        return image_bytes(montage.image)

    def _images(self, codes: np.ndarray) -> torch.Tensor:
        """G(codes) for (B, n) float64 codes, without gradients."""
        with torch.no_grad():
            return self.G(cpu_tensor(codes).to(**placement(self.G))).detach()

    def _reference_image(self, z0: np.ndarray) -> torch.Tensor:
        key = np.asarray(z0, dtype=np.float64).tobytes()
        if self._cached[0] != key:
            self._cached = (key, self._images(np.asarray(z0, dtype=np.float64)[None]))
        return self._cached[1]

