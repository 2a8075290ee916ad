"""Writing NVIDIA-format network pickles in tests: ``torch_utils.persistence``'s stream, with a source of our own.

An NVIDIA snapshot pickles each network as ``_reconstruct_persistent_obj(meta)`` with ``meta =
{type, version, module_src, class_name, state}`` (state: the module's ``__dict__``), tensors
through torch's own reductions (``_rebuild_tensor_v2``, ``_rebuild_parameter``, storages by
``torch.storage._load_from_bytes``), and ``dnnlib.util.EasyDict`` for kwargs. Here the
records are made from ganmetric's own networks (which carry NVIDIA's module names and
attributes), and the globals ``torch_utils.persistence._reconstruct_persistent_obj`` and
``dnnlib.util.EasyDict`` are stand-ins registered only while pickling.
"""
from __future__ import annotations

import contextlib
import pickle
import types
from collections import OrderedDict

import numpy as np
import torch

from ganmetric.io import modules_named

#: a network source of our own: never a known NVIDIA release
OWN_SOURCE = "# a network module written by ganmetric's tests\nclass Generator:\n    pass\n"


def marker_source(marker_path) -> str:
    """A source that creates ``marker_path`` when executed (which must never happen)."""
    return f"import pathlib\npathlib.Path({str(marker_path)!r}).touch()\n" + OWN_SOURCE


def _reconstruct_persistent_obj(meta):  # the name NVIDIA's pickles call; never called here
    raise AssertionError("only used to name the global while pickling")


class EasyDict(dict):
    """Stands for dnnlib.util.EasyDict while pickling."""


class Persistent:
    """Pickles as NVIDIA's persistent objects do: a call of _reconstruct_persistent_obj(meta)."""

    def __init__(self, meta: dict):
        self.meta = meta

    def __reduce__(self):
        return _reconstruct_persistent_obj, (self.meta,)


@contextlib.contextmanager
def nvidia_globals():
    """Stand-in ``torch_utils.persistence`` and ``dnnlib.util`` modules, so that pickle can name the globals."""
    mods = {n: types.ModuleType(n) for n in ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util")}
    mods["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj
    mods["dnnlib.util"].EasyDict = EasyDict
    _reconstruct_persistent_obj.__module__, EasyDict.__module__ = "torch_utils.persistence", "dnnlib.util"
    try:
        with modules_named(mods):
            yield
    finally:
        _reconstruct_persistent_obj.__module__, EasyDict.__module__ = __name__, __name__


def _plain(value) -> bool:
    plain = (int, float, str, bool, type(None), np.ndarray, np.generic)
    return isinstance(value, plain) or (isinstance(value, (list, tuple)) and all(isinstance(v, plain) for v in value))


def record(module: torch.nn.Module, src: str, *, class_name: str | None = None, init_kwargs: dict | None = None,
           version: int = 6) -> Persistent:
    """The persistent record of a module tree as NVIDIA writes it (state: tensors, submodules, plain attributes)."""
    state = OrderedDict(training=False, _parameters=OrderedDict(module._parameters),
                        _buffers=OrderedDict(module._buffers), _non_persistent_buffers_set=set(),
                        _modules=OrderedDict((k, None if v is None else record(v, src))
                                             for k, v in module._modules.items()))
    state.update({k: v for k, v in vars(module).items() if not k.startswith("_") and k != "training" and _plain(v)})
    state["_init_args"] = ()
    state["_init_kwargs"] = EasyDict(init_kwargs or {})
    return Persistent(dict(type="class", version=version, module_src=src,
                           class_name=class_name or type(module).__name__, state=state))


def generator_record(G, init_kwargs: dict, src: str = OWN_SOURCE, **overrides) -> Persistent:
    """The record of an :class:`~ganmetric.generators.nvidia.NvidiaGenerator`'s networks as NVIDIA's ``Generator``."""
    root = torch.nn.Module()
    root.synthesis, root.mapping = G.synthesis, G.mapping
    for k in ("z_dim", "c_dim", "w_dim", "num_ws"):
        setattr(root, k, getattr(G, k))
    root.img_resolution, root.img_channels = G.synthesis.img_resolution, G.synthesis.img_channels
    rec = record(root, src, class_name="Generator", init_kwargs=init_kwargs)
    rec.meta.update(overrides)
    return rec


def write_snapshot(path, G_ema, *, G=None, D=True, protocol: int = 4, **extra) -> None:
    """A ``training_loop.py`` snapshot: training_set_kwargs, G, D, G_ema, augment_pipe (G defaults to G_ema)."""
    disc = Persistent(dict(type="class", version=6, module_src=OWN_SOURCE, class_name="Discriminator",
                           state={"_parameters": {}, "_buffers": {}, "_modules": {}})) if D else None
    data = dict(training_set_kwargs=EasyDict(resolution=16), G=G if G is not None else G_ema, D=disc, G_ema=G_ema,
                augment_pipe=None, **extra)
    with nvidia_globals(), open(path, "wb") as f:
        pickle.dump(data, f, protocol=protocol)


#: small NVIDIA configurations (the arguments of their Generator)
SG2_KWARGS = dict(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=2),
                  synthesis_kwargs=dict(channel_base=64, channel_max=8, conv_clamp=None))
COND_KWARGS = {**SG2_KWARGS, "c_dim": 3}
SG3_KWARGS = dict(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=2),
                  channel_base=128, channel_max=8, num_layers=4, num_critical=1, margin_size=2, conv_clamp=None)


def perturbed(G, seed: int = 0):
    """G with every bias, noise strength and w_avg moved off its constant initial value (so each one matters)."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    with torch.no_grad():
        for name, t in [*G.named_parameters(), *G.named_buffers()]:
            if name.endswith(("bias", "noise_strength", "w_avg", "input.affine.weight")):
                t.add_(0.3 * torch.randn(t.shape, generator=g, device="cpu"))
            if name.endswith("magnitude_ema"):
                t.fill_(0.5 + float(torch.rand((), generator=g, device="cpu")))
    return G

#: the cold-start check's models: (architecture, kwargs, latent space, truncation) covering every kind of layer
COLD_CONFIGS = [
    ("stylegan2", {**SG2_KWARGS, "c_dim": 2, "synthesis_kwargs": {**SG2_KWARGS["synthesis_kwargs"],
                                                                   "architecture": "resnet", "conv_clamp": 256}},
     "z", 0.7),
    ("stylegan2", {**SG2_KWARGS, "synthesis_kwargs": {**SG2_KWARGS["synthesis_kwargs"], "architecture": "orig"}},
     "w+", 1.0),
    ("stylegan3", SG3_KWARGS, "w", 1.0),
    ("stylegan3", {**SG3_KWARGS, "conv_kernel": 1, "use_radial_filters": True}, "z", 0.5),
]
