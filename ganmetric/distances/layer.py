"""Layer distances: the squared distance between the activations of a generator's own layers.

``load_distance("layer:NAME")`` compares two codes through the output ``f`` of the
generator's submodule ``NAME`` (names as in ``G.named_modules()``)::

    d(z0, z) = mean over the elements of f(z) - f(z0), squared

the same mean convention as ``mse`` (on the generator's output layer the two agree).
Several layers, ``layer:A,B``, are the sum of their distances, each normalised by its own
element count. It is a squared-feature distance with features
``f(z).flatten() / sqrt(elements)``, so every metric method works, ``jacobian`` included.

A layer distance compares codes, not images: the objects it compares are the activation
vectors :meth:`LayerDistance.inputs` reads out of the generator it is given with forward
hooks, inside the function the metric engine differentiates, so ``torch.func`` transforms
(jvp, vjp, vmap) see an ordinary function of the code (every distance's ``inputs(G, Z)`` is
what it compares for codes: ``G(Z)`` for an image distance).

A layer distance is defined by its layer names: it works with any generator whose layers
of those names are usable. ``load_distance("layer:main.2", generator=G)`` checks the names
against G at once (bad names fail there, in one line, with near matches); any other
generator is checked the first time it is used. Result files record the layer names in
``distance_options`` next to the model's identity, which the file's consumers check.
"""
from __future__ import annotations

import difflib
import weakref
from dataclasses import dataclass

import torch

from ..errors import InputError
from .base import Distance
from .registry import register_distance

LAYER_PREFIX = "layer:"
"""A distance spec naming layers starts with this."""
#: codes of the inspection forward passes (a fixed seed: listing a model twice gives the same table)
_INSPECT_SEED = 0


class _Captured(Exception):
    """Raised by the last hook: nothing after the chosen layers is needed."""


@dataclass(frozen=True)
class LayerInfo:
    """One submodule of a generator, as a layer distance sees it.

    Attributes:
        name: its name in ``G.named_modules()``.
        type: its class name.
        shape: its output's shape for a batch of one code, or None (not run, not a tensor).
        order: position of its output in the forward pass (0 first), None when it does not run.
        leaf: it has no submodules.
        usable: a layer distance can use it.
        reason: why it cannot ("" when usable).
    """

    name: str
    type: str
    shape: tuple | None
    order: int | None
    leaf: bool
    usable: bool
    reason: str = ""

    @property
    def elements(self) -> int | None:
        """Elements of one code's output (None when there is no output)."""
        if self.shape is None:
            return None
        count = 1
        for s in self.shape[1:]:
            count *= int(s)
        return count


def is_layer_spec(spec) -> bool:
    """Whether ``spec`` names a layer distance (``layer:...``).

    Args:
        spec: a distance spec, as :func:`~ganmetric.load_distance` takes it (any value).

    Returns:
        True for a string starting with :data:`LAYER_PREFIX`.
    """
    return isinstance(spec, str) and spec.startswith(LAYER_PREFIX)


def parse_layer_spec(spec: str, *, argument: str = "distance") -> list[str]:
    """The layer names of ``layer:A,B`` (or of ``A,B``), in the given order.

    Raises:
        InputError: no name, an empty name, or a name given twice.
    """
    body = spec[len(LAYER_PREFIX):] if is_layer_spec(spec) else str(spec)
    names = [part.strip() for part in body.split(",")]
    if not body.strip() or any(not n for n in names):
        form = "layer:NAME or layer:NAME1,NAME2" if argument == "distance" else "NAME or NAME1,NAME2"
        raise InputError(f"{argument} must name layers as {form} (names as listed by `ganmetric models layers "
                         f"MODEL`), got {spec or 'nothing'}", argument=argument)
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"{argument} must name each layer once, got {twice[0]} twice", argument=argument)
    return names


def _probe_codes(G) -> torch.Tensor:
    """Two different codes from the prior on G's device and dtype (their rows do not depend on the count)."""
    return G.sample(2, seed=_INSPECT_SEED)


class _Recorder:
    """Forward hooks that note, per module, how often it ran, in which order, and its output."""

    def __init__(self, modules: dict):
        self.calls: dict[str, int] = {}
        self.outputs: dict[str, object] = {}
        self.order: list[str] = []
        self.hooked: set[str] = set()
        self.handles = []
        for name, module in modules.items():
            try:
                self.handles.append(module.register_forward_hook(self._hook(name)))
                self.hooked.add(name)
            except (RuntimeError, AttributeError, TypeError):  # TorchScript submodules take no Python hooks
                pass

    def _hook(self, name):
        def hook(_module, _inputs, output):
            self.calls[name] = self.calls.get(name, 0) + 1
            if name not in self.outputs:
                self.order.append(name)
                self.outputs[name] = output.detach().clone() if isinstance(output, torch.Tensor) else output
        return hook

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


@torch.no_grad()
def _record(G, modules: dict, codes: torch.Tensor) -> _Recorder:
    rec = _Recorder(modules)
    try:
        G(codes)
    finally:
        rec.remove()
    return rec


def _why_not(output, calls: int, hooked: bool, container_ran: bool, latent_space) -> str:
    """Why a module's output cannot make a layer distance ("" if it can)."""
    if not hooked:
        return "cannot be hooked (a TorchScript submodule)"
    if calls == 0 and container_ran:
        return "a container that is not called itself (its submodules are)"
    if calls == 0:
        return f"not run by the forward pass in latent space {latent_space}"
    if calls > 1:
        return f"runs {calls} times per forward pass (its output is ambiguous)"
    if not isinstance(output, torch.Tensor):
        return f"its output is a {type(output).__name__}, not a tensor"
    if not output.is_floating_point():
        return f"its output holds {str(output.dtype).replace('torch.', '')} values, not real numbers"
    if output.dim() == 0 or output.shape[0] != 2:
        return "its output has no batch dimension first"
    return ""


def _inspect(G, modules: dict) -> dict[str, LayerInfo]:
    """Run G on one code and on two codes with hooks on ``modules``; what each module gives."""
    two = _probe_codes(G)
    one = _record(G, modules, two[:1])
    both = _record(G, modules, two)
    infos = {}
    for name, module in modules.items():
        out1, out2 = one.outputs.get(name), both.outputs.get(name)
        ran = any(other.startswith(name + ".") for other in both.calls)
        reason = _why_not(out2, both.calls.get(name, 0), name in both.hooked, ran, getattr(G, "latent_space", None))
        if not reason and out2.shape[1:] != out1.shape[1:]:
            reason = "its output's size depends on the batch"
        elif not reason and torch.equal(out2[0], out2[1]):
            reason = "constant: its output does not depend on the code (its metric is zero)"
        shape = tuple(out1.shape) if isinstance(out1, torch.Tensor) else None
        order = one.order.index(name) if name in one.order else None
        infos[name] = LayerInfo(name, type(module).__name__, shape, order, not any(True for _ in module.children()),
                                not reason, reason)
    return infos


def _submodules(G) -> dict:
    """Every named submodule of G but G itself."""
    return {name: module for name, module in G.named_modules() if name}


def generator_layers(G) -> list[LayerInfo]:
    """Every submodule of G with its type, output shape and whether a layer distance can use it.

    Runs G on one code (the shapes) and on two (whether the output has a batch dimension and
    depends on the code), with a forward hook on every submodule. A module is usable when it
    runs exactly once per forward pass and returns a real-valued tensor, batch first, that
    changes with the code.

    Args:
        G: a generator (any module with ``latent_dim`` and ``sample``).

    Returns:
        LayerInfo per submodule, in ``named_modules()`` order.
    """
    return list(_inspect(G, _submodules(G)).values())


def _near(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.6)
    return f"; near matches: {', '.join(close)}" if close else ""


def check_layers(G, names, *, argument: str = "distance") -> dict[str, LayerInfo]:
    """The :class:`LayerInfo` of each named layer of G, refusing names a layer distance cannot use.

    Args:
        G: the generator.
        names: module names of G (as in ``G.named_modules()``).
        argument: the argument named in errors (the CLI shows it as a flag).

    Returns:
        name -> :class:`LayerInfo`, in the order of ``names``.

    Raises:
        InputError: an unknown name (with near matches), or a module that does not run once
            per forward pass, returns no real tensor, or does not depend on the code.
    """
    modules = _submodules(G)
    missing = [n for n in names if n not in modules]
    if missing:
        raise InputError(f"{getattr(G, 'name', 'the generator')} has no layer {missing[0]}"
                         f"{_near(missing[0], list(modules))} (`ganmetric models layers` lists them)",
                         argument=argument)
    infos = _inspect(G, {n: modules[n] for n in names})
    for name in names:
        if not infos[name].usable:
            raise InputError(f"layer {name} of {getattr(G, 'name', 'the generator')} cannot make a layer distance: "
                             f"{infos[name].reason}", argument=argument)
    return infos


@register_distance("layer", argument="NAME[,NAME2...]",
                   help="the mean squared difference of the model's own layer NAME's activations (layers as listed "
                        "by `ganmetric models layers MODEL`; several are summed, each normalised by its size)")
def _build(spec: str) -> "LayerDistance":
    return LayerDistance(spec)


class LayerDistance(Distance):
    """``d(z0, z) = sum_l mean_e (f_l(z) - f_l(z0))^2`` over the outputs f_l of a generator's layers.

    Features: ``cat_l f_l(z).flatten() / sqrt(E_l)`` (E_l: elements of one code's f_l), so
    ``d = ||features(z) - features(z0)||^2`` and the metric is ``H = 2 J^T J`` exactly.

    It compares activation vectors (m, F) that :meth:`inputs` reads out of the generator it
    is given, not images: ``forward(a, b)`` and ``features(a)`` take those. It is defined by
    the layer names alone, so it works with any generator that has usable layers of those
    names (each generator's layers are checked once, on first use, and their sizes kept).

    Args:
        layers: the submodule names (``G.named_modules()``), or a spec ``layer:A,B``.
        generator: check the names against this generator now (else on first use).

    Attributes:
        layers: the names, in the given order.

    Raises:
        InputError: no or repeated names; with ``generator``, a name it cannot use.
    """

    has_features = True
    compares_images = False

    def __init__(self, layers, generator=None):
        names = parse_layer_spec(layers if isinstance(layers, str) else ",".join(layers))
        super().__init__(LAYER_PREFIX + ",".join(names), {"layers": list(names)})
        self.layers = tuple(names)
        #: generator -> its layers' element counts (held weakly: a generator is checked once, never kept alive)
        self._elements: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        if generator is not None:
            self.check_generator(generator)

    def __deepcopy__(self, memo):
        # the names are the whole distance; a copy checks the generators it meets again
        return LayerDistance(self.layers).train(self.training)

    def check_generator(self, G) -> None:
        """Check that G gives every layer (once per generator object; see :func:`check_layers`).

        Raises:
            InputError: an unknown name (with near matches) or a layer that cannot make a
                layer distance (``argument="distance"``).
        """
        self.elements(G)

    def elements(self, G) -> dict[str, int]:
        """Each layer's element count for one code of G (its layers checked on the first call for G).

        Raises:
            InputError: as :meth:`check_generator`.
        """
        counts = self._elements.get(G)
        if counts is None:
            infos = check_layers(G, self.layers)
            counts = self._elements[G] = {n: infos[n].elements for n in self.layers}
        return counts

    def inputs(self, G, Z: torch.Tensor) -> torch.Tensor:
        """The features of codes Z: ``cat_l f_l(Z).flatten(1) / sqrt(E_l)``, shape (m, F).

        Hooks on the chosen layers keep their outputs (cloned: a later in-place op, such as
        an in-place ReLU after a BatchNorm, must not change them); the pass stops after the
        last of them. Called inside the function a ``torch.func`` transform differentiates,
        the hooks see that transform's tensors.

        Args:
            G: the generator whose layers are read.
            Z: (m, n) codes.

        Raises:
            InputError: G cannot give one of the layers.
        """
        scale = self.elements(G)
        modules = dict(G.named_modules())
        kept: dict[str, torch.Tensor] = {}

        def hook(name):
            def keep(_module, _inputs, output):
                kept[name] = output.clone()
                if len(kept) == len(self.layers):
                    raise _Captured
            return keep

        handles = [modules[name].register_forward_hook(hook(name)) for name in self.layers]
        try:
            G(Z)
        except _Captured:
            pass
        finally:
            for handle in handles:
                handle.remove()
        return torch.cat([kept[n].flatten(1) * scale[n] ** -0.5 for n in self.layers], dim=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The features of activation vectors from :meth:`inputs` (they already are: returned as is).

        Raises:
            InputError: ``x`` is an image batch or anything but (m, F) activation vectors.
        """
        if x.dim() != 2:
            raise InputError(f"distance {self.name} compares the activations of the generator's own layers at two "
                             f"codes, not images: this needs an image distance (mse, lpips-alex, ...)",
                             argument="distance")
        return x
