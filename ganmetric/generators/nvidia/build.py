"""From a pickled NVIDIA generator record to ganmetric's own networks: identify, build from the kwargs, check, load.

A record (:class:`.pickles.PersistentRecord`) is identified by its structure: class
``Generator`` with a ``mapping`` (``MappingNetwork``) and a ``synthesis``
(``SynthesisNetwork``) made of ``SynthesisBlock`` children ``b4``, ``b8``, ... (StyleGAN2, both
repositories) or of a ``SynthesisInput`` and ``SynthesisLayer`` children (StyleGAN3, T and R).
The networks are then built from the record's constructor arguments (``_init_kwargs``, with
NVIDIA's defaults), and the build is checked against the record before anything is loaded:
the same module tree and class names, the same values of every attribute the forward pass
reads (resolutions, up-sampling factors, paddings, clamps, architecture, sampling rates,
filter lengths, ...), and the same parameters and buffers with the same shapes. Then every
tensor is loaded strictly (nothing missing, nothing ignored). A record that differs anywhere
is refused in one line naming the first difference.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ...errors import WeightsError
from . import sg2, sg3
from .mapping import MappingNetwork
from .pickles import PersistentRecord

#: constructor arguments of NVIDIA's networks that change nothing here (fp16, memory format, training)
NO_EFFECT = {"num_fp16_res", "fp16_channels_last", "fused_modconv_default", "magnitude_ema_beta", "w_avg_beta"}
SG2_MAPPING = {"num_layers", "embed_features", "layer_features", "activation", "lr_multiplier", "w_avg_beta"}
SG2_SYNTHESIS = {"channel_base", "channel_max", "num_fp16_res", "architecture", "resample_filter", "conv_clamp",
                 "fp16_channels_last", "fused_modconv_default", "kernel_size", "use_noise", "activation"}
SG3_MAPPING = {"num_layers", "lr_multiplier", "w_avg_beta"}
SG3_SYNTHESIS = {"channel_base", "channel_max", "num_layers", "num_critical", "first_cutoff", "first_stopband",
                 "last_stopband_rel", "margin_size", "output_scale", "num_fp16_res", "conv_kernel", "filter_size",
                 "lrelu_upsampling", "use_radial_filters", "conv_clamp", "magnitude_ema_beta"}
GENERATOR = {"z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs"}
ROOT_ATTRIBUTES = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "num_ws")


@dataclass
class Networks:
    """ganmetric's networks for one pickled generator.

    Attributes:
        mapping, synthesis: the modules (NVIDIA's names and tensors).
        architecture: "stylegan2" or "stylegan3".
        config: "stylegan2", "stylegan3-t" or "stylegan3-r" (for people; R: 1x1 convolutions, radial filters).
        init_kwargs: the constructor arguments they were built from.
    """

    mapping: MappingNetwork
    synthesis: nn.Module
    architecture: str
    config: str
    init_kwargs: dict


def architecture_of(record: PersistentRecord, where: str) -> str:
    """"stylegan2" or "stylegan3" from the record's module tree.

    Raises:
        WeightsError: not NVIDIA's generator structure (names the class found).
    """
    def cls(node):
        return node.class_name if isinstance(node, PersistentRecord) else type(node).__name__

    children = record.children()
    synthesis, mapping = children.get("synthesis"), children.get("mapping")
    if record.class_name != "Generator" or cls(mapping) != "MappingNetwork" or cls(synthesis) != "SynthesisNetwork":
        found = f"class {record.class_name}" + (f" with {', '.join(f'{k}: {cls(v)}' for k, v in children.items())}"
                                                 if children else "")
        raise WeightsError(f"{where}: not an NVIDIA StyleGAN2-ADA/StyleGAN3 generator ({found}); ganmetric reads "
                           f"the Generator of stylegan2-ada-pytorch and stylegan3")
    parts = synthesis.children()
    if cls(parts.get("input")) == "SynthesisInput":
        return "stylegan3"
    if cls(parts.get("b4")) == "SynthesisBlock":
        return "stylegan2"
    raise WeightsError(f"{where}: an NVIDIA-style Generator whose synthesis network is neither StyleGAN2's "
                       f"(blocks b4, b8, ...) nor StyleGAN3's (input, L0_...): found {', '.join(parts) or 'nothing'}")


def _split_kwargs(kwargs: dict, architecture: str, where: str) -> tuple[dict, dict, dict]:
    """(generator sizes, mapping kwargs, synthesis kwargs), refusing arguments NVIDIA's constructors do not take."""
    kwargs = dict(kwargs)
    mapping = dict(kwargs.pop("mapping_kwargs", None) or {})
    synthesis = dict(kwargs.pop("synthesis_kwargs", None) or {})  # stylegan2-ada-pytorch nests them
    sizes = {k: kwargs.pop(k) for k in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels") if k in kwargs}
    synthesis.update(kwargs)  # stylegan3's networks take them flat
    valid_m, valid_s = (SG3_MAPPING, SG3_SYNTHESIS) if architecture == "stylegan3" else (SG2_MAPPING, SG2_SYNTHESIS)
    unknown = sorted(set(mapping) - valid_m) + sorted(set(synthesis) - valid_s)
    if unknown or len(sizes) < 5:
        what = f"takes no argument {unknown[0]}" if unknown else f"needs {', '.join(sorted(GENERATOR - set(sizes)))}"
        raise WeightsError(f"{where}: NVIDIA's {architecture.upper()} Generator {what}; this network was made by "
                           f"other code (load it with --trust-pickled-code only if you trust the file)")
    return sizes, mapping, synthesis


def make_networks(architecture: str, init_kwargs: dict, *, where: str = "the network", seed: int | None = None
                  ) -> Networks:
    """Build ganmetric's networks from NVIDIA's constructor arguments (NVIDIA's defaults for the rest).

    Args:
        architecture: "stylegan2" or "stylegan3".
        init_kwargs: the Generator's ``_init_kwargs`` (``z_dim``, ``c_dim``, ``w_dim``,
            ``img_resolution``, ``img_channels``, ``mapping_kwargs``, the synthesis arguments).
        where: the file, for messages.
        seed: None for placeholder tensors (a file's are loaded next); an int draws NVIDIA's
            random initialisation from a private generator (and designs StyleGAN3's filters).

    Raises:
        WeightsError: an argument NVIDIA's constructors do not take, or a value they would refuse.
    """
    sizes, mk, sk = _split_kwargs(init_kwargs, architecture, where)
    gen = None if seed is None else torch.Generator(device="cpu").manual_seed(int(seed))
    mk = {k: v for k, v in mk.items() if k != "w_avg_beta"} | {"has_w_avg": mk.get("w_avg_beta", 0.998) is not None}
    synthesis_args = {k: v for k, v in sk.items() if k not in NO_EFFECT}
    res = sizes["img_resolution"]
    if sizes["z_dim"] <= 0 or res < 4 or res & (res - 1):
        raise WeightsError(f"{where}: z_dim must be positive and img_resolution a power of 2 >= 4, got "
                           f"{sizes['z_dim']} and {res}")
    try:
        if architecture == "stylegan3":
            synthesis = sg3.SynthesisNetwork(w_dim=sizes["w_dim"], img_resolution=res,
                                             img_channels=sizes["img_channels"], design_filters=seed is not None,
                                             generator=gen, **synthesis_args)
            mapping = MappingNetwork(z_dim=sizes["z_dim"], c_dim=sizes["c_dim"], w_dim=sizes["w_dim"],
                                     num_ws=synthesis.num_ws, num_layers=mk.get("num_layers", 2),
                                     lr_multiplier=mk.get("lr_multiplier", 0.01), has_w_avg=True, generator=gen)
            radial = bool(sk.get("use_radial_filters")) and sk.get("conv_kernel", 3) == 1
            config = "stylegan3-r" if radial else "stylegan3-t"
        else:
            if synthesis_args.get("architecture", "skip") not in ("skip", "resnet", "orig"):
                raise WeightsError(f"{where}: unknown StyleGAN2 architecture {synthesis_args['architecture']!r}")
            for key in ("activation",):
                if synthesis_args.get(key, "lrelu") not in ("linear", "relu", "lrelu") or \
                        mk.get(key, "lrelu") not in ("linear", "relu", "lrelu"):
                    raise WeightsError(f"{where}: activation must be linear, relu or lrelu here")
            # the default clamp: None in stylegan2-ada-pytorch (nested kwargs), 256 in stylegan3's networks_stylegan2
            synthesis_args.setdefault("conv_clamp", None if "synthesis_kwargs" in init_kwargs else 256)
            synthesis = sg2.SynthesisNetwork(w_dim=sizes["w_dim"], img_resolution=res,
                                             img_channels=sizes["img_channels"], generator=gen, **synthesis_args)
            mapping = MappingNetwork(z_dim=sizes["z_dim"], c_dim=sizes["c_dim"], w_dim=sizes["w_dim"],
                                     num_ws=synthesis.num_ws, num_layers=mk.get("num_layers", 8),
                                     embed_features=mk.get("embed_features"), layer_features=mk.get("layer_features"),
                                     activation=mk.get("activation", "lrelu"),
                                     lr_multiplier=mk.get("lr_multiplier", 0.01), has_w_avg=mk["has_w_avg"],
                                     generator=gen)
            config = "stylegan2"
    except (TypeError, ValueError, ZeroDivisionError, KeyError) as exc:
        raise WeightsError(f"{where}: NVIDIA's {architecture} Generator cannot be built from the file's arguments "
                           f"({exc})") from None
    return Networks(mapping, synthesis, architecture, config, dict(init_kwargs))


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _same(a, b) -> bool:
    a, b = _plain(a), _plain(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None or isinstance(a, str):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _compare(record: PersistentRecord, module: nn.Module, path: str, where: str) -> None:
    """Refuse the first difference between a record's tree and a module's (classes, children, attributes)."""
    name = path or "the generator"
    if record.class_name != type(module).__name__:
        raise WeightsError(f"{where}: {name} is a {record.class_name}, NVIDIA's network has a {type(module).__name__} "
                           f"there")
    for attr in getattr(module, "ATTRIBUTES", ()):
        if attr not in record.state:
            raise WeightsError(f"{where}: {name} has no attribute {attr}, which NVIDIA's {type(module).__name__} sets")
        if not _same(record.state[attr], getattr(module, attr)):
            raise WeightsError(f"{where}: {name}.{attr} is {_plain(record.state[attr])!r} in the file, but NVIDIA's "
                               f"code makes it {_plain(getattr(module, attr))!r} from the file's own arguments")
    theirs, ours = record.children(), dict(module._modules)
    if list(theirs) != list(ours):
        extra = [k for k in theirs if k not in ours]
        missing = [k for k in ours if k not in theirs]
        detail = f"an extra {extra[0]}" if extra else (f"no {missing[0]}" if missing else "its parts in another order")
        raise WeightsError(f"{where}: {name} has {detail}, unlike NVIDIA's {type(module).__name__}")
    for key, child in theirs.items():
        sub = f"{path}.{key}" if path else key
        if child is None or ours[key] is None:
            if (child is None) != (ours[key] is None):
                raise WeightsError(f"{where}: {sub} is {'empty' if child is None else 'present'} in the file, "
                                   f"unlike NVIDIA's network")
            continue
        if not isinstance(child, PersistentRecord):
            raise WeightsError(f"{where}: {sub} is a {type(child).__name__}, not one of NVIDIA's network modules")
        _compare(child, ours[key], sub, where)


def load_record(record: PersistentRecord, *, where: str) -> Networks:
    """ganmetric's networks holding a pickled generator's tensors, checked against the record (module docstring).

    Raises:
        WeightsError: not NVIDIA's structure, an argument or attribute that differs, a tensor
            missing, extra or of another shape.
    """
    architecture = architecture_of(record, where)
    nets = make_networks(architecture, record.init_kwargs, where=where)
    for attr in ROOT_ATTRIBUTES:
        ours = nets.synthesis.num_ws if attr == "num_ws" else (
            getattr(nets.mapping, attr) if attr in ("z_dim", "c_dim", "w_dim") else getattr(nets.synthesis, attr))
        if attr not in record.state or not _same(record.state[attr], ours):
            raise WeightsError(f"{where}: the generator's {attr} is {_plain(record.state.get(attr))!r}, its "
                               f"arguments make {ours!r}")
    children = record.children()
    _compare(children["mapping"], nets.mapping, "mapping", where)
    _compare(children["synthesis"], nets.synthesis, "synthesis", where)
    tensors, empty = record.tensors()
    state = {**{f"mapping.{k}": v for k, v in nets.mapping.state_dict().items()},
             **{f"synthesis.{k}": v for k, v in nets.synthesis.state_dict().items()}}
    ours_empty = {".".join(p for p in (prefix, mod_name, name) if p)
                  for prefix, net in (("mapping", nets.mapping), ("synthesis", nets.synthesis))
                  for mod_name, mod in net.named_modules() for name, buf in mod._buffers.items() if buf is None}
    missing = [k for k in state if k not in tensors]
    extra = [k for k in tensors if k not in state] + sorted(empty ^ ours_empty)
    if missing or extra:
        detail = f"no tensor {missing[0]}" if missing else f"an unexpected tensor {extra[0]}"
        raise WeightsError(f"{where}: the file has {detail} for NVIDIA's {architecture} generator")
    for key, value in state.items():
        got = tensors[key]
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(value.shape):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise WeightsError(f"{where}: {key} has shape {shape}, NVIDIA's network needs {tuple(value.shape)}")
        if not got.is_floating_point():
            raise WeightsError(f"{where}: {key} is not a floating-point tensor ({got.dtype})")
    for prefix, net in (("mapping", nets.mapping), ("synthesis", nets.synthesis)):
        own = {k[len(prefix) + 1:]: tensors[k].detach().to(torch.float32) for k in state if k.startswith(prefix + ".")}
        net.load_state_dict(own, strict=True)
    return nets
