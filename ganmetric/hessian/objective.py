"""The maps the metric engine differentiates, for one generator, distance and base point."""
from __future__ import annotations

import warnings
import weakref

import torch
from torch.func import jvp, vmap

from ..chunking import ForwardMemory, forward_memory
from ..oom import is_out_of_memory

#: measured forwards per generator, distance, device and dtype: the activation memory of one
#: code depends on the architecture, not on the point, so a batch of points measures once
_MEASURED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class Objective:
    """The maps the operators differentiate, and their batched forward-mode products.

    Args:
        G: the generator.
        D: the distance.
        z0: the base point, shape (n,).

    ``psi(Z)`` -> (m, F) weighted features of G(Z) (feature-form distances only), which are
    ``c * psi_unscaled(Z)`` with ``c`` = :attr:`feature_scale`: the engine differentiates
    ``psi_unscaled`` and applies ``2 c^2`` once, to its Gauss-Newton products and Gram matrix
    (no constant in the tangent path); ``f(Z)`` -> (m,) distances d(G(z0), G(Z_i)). What the
    distance compares is :meth:`inputs`: the images G(Z), or for a distance of G's own layers
    the activations it reads out of G (hooks run inside the differentiated map).
    """

    def __init__(self, G, D, z0: torch.Tensor):
        self.G, self.D, self.z0 = G, D, z0
        self._x0: torch.Tensor | None = None
        self._input_shape: tuple | None = None
        self._feature_scale: float | None = None
        self._vmap_ok = True

    def inputs(self, Z: torch.Tensor) -> torch.Tensor:
        """What the distance compares for codes Z (m, n): (m, ...), images or G's activations.

        The first evaluation also records the shape of one input (:attr:`input_shape`), which
        is the same under ``vmap``, so that no evaluation is spent on it.
        """
        x = self.D.inputs(self.G, Z)
        if self._input_shape is None:
            self._input_shape = tuple(x.shape[1:])
        return x

    @property
    def x0(self) -> torch.Tensor:
        """What the distance compares at z0, evaluated alone (1, ...): computed on first use.

        The ``jacobian`` and ``gn-lanczos`` runs never need it (their passes evaluate z0
        themselves), so it costs them nothing.
        """
        if self._x0 is None:
            with torch.no_grad():
                self._x0 = self.inputs(self.z0[None])
        return self._x0

    @property
    def input_shape(self) -> tuple:
        """The shape of one distance input, (C, H, W) for images: from the first evaluation of any map
        here, or from :attr:`x0` when none has run yet."""
        if self._input_shape is None:
            self.x0
        return self._input_shape

    @property
    def feature_scale(self) -> float:
        """The distance's constant feature factor c (``psi = c * psi_unscaled``), 1 without one."""
        if self._feature_scale is None:
            scale = getattr(self.D, "feature_scale", None) if getattr(self.D, "has_features", False) else None
            self._feature_scale = 1.0 if scale is None else float(scale(self.input_shape))
        return self._feature_scale

    def psi(self, Z):
        return self.D.features(self.inputs(Z))

    def psi_unscaled(self, Z):
        return self.unscaled_features(self.inputs(Z))

    def unscaled_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """The distance's features of its inputs without :attr:`feature_scale` (distances without
        ``unscaled_features`` have no constant factor: their features)."""
        return getattr(self.D, "unscaled_features", self.D.features)(inputs)

    def f(self, Z):
        return self.D(self.x0, self.inputs(Z))

    def copies(self, m: int) -> torch.Tensor:
        return self.z0.expand(m, -1).clone()

    def jvp(self, fn, T: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``fn`` at z0 and its derivatives ``d fn(z0) [t_i]`` along the rows t_i of T (m, n).

        The primal is computed once and only the m tangents are batched (``vmap`` over
        ``jvp``), which costs about one forward pass of m codes. Maps whose operators
        have no vmap rule (some TorchScript modules) fall back to m primal copies.

        Returns:
            (primal, tangents): ``fn(z0[None])`` (1, ...) (on the fallback, the first of the m
            copies: z0 evaluated in a batch), and the m derivatives (m, ...).
        """
        with warnings.catch_warnings():
            # torch's first jvp scripts its jvp decompositions and warns that jit.script is deprecated
            warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
            z1 = self.z0[None]
            if T.shape[0] == 1:
                return jvp(fn, (z1,), (T,))
            if self._vmap_ok:
                try:
                    primal, tangents = vmap(lambda t: jvp(fn, (z1,), (t[None],)), out_dims=(None, 0))(T)
                    return primal, tangents[:, 0]
                except (RuntimeError, NotImplementedError) as exc:
                    if is_out_of_memory(exc):
                        raise
                    self._vmap_ok = False
            primal, tangents = jvp(fn, (self.copies(T.shape[0]),), (T,))
            return primal[:1], tangents

    def forward_memory(self, features: bool) -> ForwardMemory:
        """One no-grad forward of z0 through ``psi`` (``features``) or ``f``, measured by
        :func:`ganmetric.chunking.forward_memory`; cached per generator, distance and placement."""
        per_distance = _MEASURED.setdefault(self.G, weakref.WeakKeyDictionary())
        per_key = per_distance.setdefault(self.D, {})
        key = (features, str(self.z0.device), str(self.z0.dtype), self.z0.numel())
        if key not in per_key:
            per_key[key] = forward_memory(self.psi if features else self.f, self.z0[None])
        return per_key[key]
