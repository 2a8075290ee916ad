"""Saved generators on another device than the one they were saved on (ganmetric/generators/saved.py).

A CPU-only machine has a second device, ``meta``: it runs a graph's shapes without data, and
refuses a CPU tensor meeting a meta one exactly as CUDA refuses a CPU tensor meeting a CUDA one.
"""
from __future__ import annotations

import warnings

import pytest
import torch

import ganmetric
from ganmetric.errors import DeviceWarning
from ganmetric.generators.saved import load_saved_generator, traced_devices


class WithConstant(torch.nn.Module):
    """A generator whose forward creates a tensor (as many do: a grid, a noise buffer, an index)."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 12)
        self.latent_dim = 4

    def forward(self, z):
        ramp = torch.arange(12, dtype=z.dtype) / 12
        return torch.tanh(self.fc(z) + ramp).reshape(-1, 3, 2, 2)


def _export(path):
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(WithConstant().eval(), (torch.zeros(2, 4),), dynamic_shapes={"z": {0: batch}})
    torch.export.save(program, path)
    return path


def test_an_exported_program_moves_with_its_graphs_constants(tmp_path):
    path = _export(tmp_path / "g.pt2")
    plain = torch.export.load(str(path)).module().to("meta")
    with pytest.raises(RuntimeError, match="not on the expected device meta"):  # what .to() alone leaves behind
        plain(torch.zeros(3, 4, device="meta"))
    G = ganmetric.load_generator(str(path))
    with torch.no_grad():
        fc = G.net.program.fc
        want = torch.tanh(torch.ones(3, 4) @ fc.weight.T + fc.bias + torch.arange(12) / 12).reshape(-1, 3, 2, 2)
        assert torch.allclose(G(torch.ones(3, 4)), want, atol=1e-7)
    for G in (G.to("meta"), ganmetric.load_generator(str(path), device="meta")):  # moved by the device pass
        out = G(torch.ones(3, 4, device="meta"))
        assert out.shape == (3, 3, 2, 2) and out.device.type == "meta" and G.device.type == "meta"


def test_a_torchscript_trace_with_another_devices_constants_warns_in_one_line(tmp_path):
    traced = tmp_path / "traced.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch deprecates tracing; users' files stay supported
        torch.jit.save(torch.jit.trace(WithConstant().eval(), torch.zeros(2, 4)), traced)
        scripted = torch.jit.script(torch.nn.Sequential(torch.nn.Linear(4, 12), torch.nn.Unflatten(1, (3, 2, 2))))
    torch.jit.save(scripted, tmp_path / "plain.pt")
    assert traced_devices(torch.jit.load(str(traced))) == {"cpu"}
    with pytest.warns(DeviceWarning, match=r"^traced.pt creates tensors on cpu inside its forward \(a trace records "
                                           r"the device\): on meta it may fail or run part of it on cpu; trace it on "
                                           r"meta$"):
        load_saved_generator(traced, "meta", latent_dim=4)  # what load_generator(device="meta") loads, then moves
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeviceWarning)
        ganmetric.load_generator(str(traced), latent_dim=4)                    # on the device it was traced on
        load_saved_generator(tmp_path / "plain.pt", "meta", latent_dim=4)     # no device constants
