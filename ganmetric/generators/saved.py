"""Generators saved to a file: TorchScript (``torch.jit.save``) or exported programs (``torch.export.save``, .pt2).

The saved module must map codes (B, n) to images (B, C, H, W). Output range: [-1, 1]
by default, or [0, 1] with ``output_range="0,1"`` (rescaled). The latent size comes
from ``latent_dim=`` or, if not given, from the file: a TorchScript module's
``latent_dim`` attribute, or the exported program's input shape. An exported program
must be exported with a dynamic batch dimension (the engine batches products).

Devices: a graph records the device of every tensor its forward creates (``torch.ones(n)``,
even ``torch.zeros(n, device=z.device)`` once traced), and ``.to(device)`` moves parameters
and buffers only. An exported program is moved with ``torch.export``'s device pass
(``move_to_device_pass``), so one exported on the CPU runs on a GPU. A TorchScript trace
cannot be: loading one for another device than the one its constants name warns
(:class:`~ganmetric.errors.DeviceWarning`): trace it on the device it will run on.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import torch
from torch import nn

from ..errors import DeviceWarning, InputError
from ..io import describe_file, sha256_file
from .base import ModuleGenerator
from .custom import check_image_output
from .exported import read_exported_program


class ExportedModule(nn.Module):
    """Holds an exported program's module; ``train()``/``eval()`` only set the flag here.

    An exported program runs in the mode it was exported in (export it from an eval-mode
    model) and refuses ``train()``, which ``Generator.freeze`` would otherwise call on it.
    Moving it to another device (``.to``, and so ``load_generator(device=...)``) rebuilds the
    module from the program moved by ``torch.export.passes.move_to_device_pass``, which also
    moves the device constants of its graph.
    """

    def __init__(self, program):
        super().__init__()
        self._exported = program  # not a submodule: its tensors are the module's
        self.program = program.module()

    def train(self, mode: bool = True) -> "ExportedModule":
        self.training = bool(mode)
        return self

    def _apply(self, fn, recurse: bool = True):
        target = fn(torch.zeros(0, device=self._device())).device  # where the conversion sends tensors
        if target != self._device():
            from torch.export.passes import move_to_device_pass
            self._exported = move_to_device_pass(self._exported, target)
            self.program = self._exported.module()
        return super()._apply(fn, recurse)

    def _device(self) -> torch.device:
        for t in (*self.program.parameters(), *self.program.buffers()):
            return t.device
        return torch.device("cpu")

    def forward(self, z):
        return self.program(z)


def _exported(path: Path, latent_dim: int | None) -> tuple[nn.Module, int]:
    try:
        program = read_exported_program(path)  # refuses archives that would unpickle or run code on load
    except InputError:
        raise
    except Exception as exc:
        raise InputError(_not_a_generator(path, exc), argument="model") from exc
    specs = [s for s in program.graph_signature.input_specs if s.kind.name == "USER_INPUT"]
    if len(specs) != 1:
        raise InputError(f"{path.name}: expected an exported program with one input (the codes), got {len(specs)}",
                         argument="model")
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == specs[0].arg.name)
    shape = tuple(node.meta["val"].shape)
    if len(shape) != 2:
        raise InputError(f"{path.name}: expected an input of shape (B, n), the program takes {shape}", argument="model")
    if isinstance(shape[0], int):
        raise InputError(f"{path.name} was exported with a fixed batch size {shape[0]}; export with "
                         f"dynamic_shapes={{'z': {{0: torch.export.Dim('batch', min=1)}}}} (the engine batches codes)",
                         argument="model")
    if latent_dim is None:
        latent_dim = int(shape[1])
    return ExportedModule(program), latent_dim


def load_saved_generator(path, device="cpu", *, latent_dim: int | None = None, output_range: str = "-1,1",
                         input_shape: str = "flat", latent_space: str | None = None) -> ModuleGenerator:
    """Load a TorchScript or exported-program generator (on the CPU; ``load_generator`` then moves it).

    ``latent_space`` only names the file's single latent space (default "z"). ``device`` is
    the device it will be moved to: a TorchScript trace whose constants name another device
    warns (:class:`~ganmetric.errors.DeviceWarning`).

    Raises:
        InputError: missing or unreadable file, unknown latent size, a fixed batch size, an
            unknown option, or an output that is not a batch of images.
    """
    shown = str(path)
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"generator file not found: {path}", argument="model")
    if path.suffix == ".pt2":
        module, latent_dim = _exported(path, latent_dim)
    else:
        try:
            with warnings.catch_warnings():  # torch 2.x deprecates TorchScript; loading users' files stays supported
                warnings.simplefilter("ignore", FutureWarning)
                module = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:
            raise InputError(_not_a_generator(path, exc), argument="model") from exc
        _warn_traced_devices(module, path, torch.device(device))
        if latent_dim is None:
            latent_dim = getattr(module, "latent_dim", None)
        if latent_dim is None:
            raise InputError(f"{path.name}: latent size unknown; give {{latent_dim}} (or save a latent_dim "
                             f"attribute on the module)", argument="latent_dim", mentions=("latent_dim",))
    gen = ModuleGenerator(module, name=shown, latent_dim=int(latent_dim), output_range=output_range,
                          input_shape=input_shape, latent_space=latent_space or "z")
    gen.resolution = check_image_output(gen, path.name)
    gen.weights = {"source": "saved-file"}  # the parameters are inside the file
    gen.file_sha256 = sha256_file(path)
    return gen


def traced_devices(module) -> set[str]:
    """The devices a TorchScript module's graph creates tensors on (its ``Device`` constants), e.g. {"cpu"}."""
    try:
        graph = str(module.inlined_graph)
    except Exception:  # a module without a forward graph
        return set()
    return set(re.findall(r'Device = prim::Constant\[value="([^"]+)"\]', graph))


def _warn_traced_devices(module, path: Path, device: torch.device) -> None:
    others = sorted(d for d in traced_devices(module) if torch.device(d).type != device.type)
    if others:
        warnings.warn(f"{path.name} creates tensors on {', '.join(others)} inside its forward (a trace records the "
                      f"device): on {device} it may fail or run part of it on {others[0]}; trace it on {device}",
                      DeviceWarning, stacklevel=3)


def _not_a_generator(path: Path, exc: BaseException) -> str:
    """Why a .pt/.ts file is not a TorchScript generator, in the user's words."""
    kind = describe_file(path)
    if kind == "a PyTorch file (torch.save)":
        return (f"{path} is a file saved with torch.save (a state dict?), not a TorchScript generator: load it "
                f"into your architecture with --model module.path:factory --weights {path}")
    if kind is not None and kind != "a TorchScript file (torch.jit.save)":
        return f"{path} is {kind}, not a generator saved with torch.jit.save or torch.export.save"
    return (f"{path} is not a readable saved generator (made with torch.jit.save, or torch.export.save for "
            f".pt2); the file may be incomplete")
