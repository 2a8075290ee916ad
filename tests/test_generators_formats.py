"""Routing a model file by what it is: saved programs, NVIDIA pickles, checkpoints by their layout; unknown files."""
from __future__ import annotations

import pytest
import torch

import ganmetric
from ganmetric.errors import InputError, WeightsError
from ganmetric.generators import formats
from ganmetric.generators.ganzoo_file import save_ganzoo_checkpoint
from ganmetric.io import sha256_file
from helpers_zoo import dcgan_parts, deepsim_reference, deepsim_state, pggan_parts, rel_err


def test_checkpoint_layouts_name_their_family(tmp_path):
    files = {
        "stylegan2": {"g_ema": {"input.input": torch.ones(1)}, "latent_avg": torch.ones(1)},
        "stylegan1": {"generator": {}, "g_running": {"style.1.linear.weight_orig": torch.ones(1)}},
        "deepsim": deepsim_state("fc6"),
        "bigbigan": {"shared.weight": torch.ones(2, 2), "blocks.0.0.conv1.weight": torch.ones(1),
                     "output_layer.0.gain": torch.ones(1)},
    }
    for family, obj in files.items():
        torch.save(obj, tmp_path / f"{family}.bin")
        kind = formats.identify(tmp_path / f"{family}.bin")
        assert (kind.route, kind.family) == ("checkpoint", family)
    save_ganzoo_checkpoint(tmp_path / "pg.pth", *pggan_parts())
    save_ganzoo_checkpoint(tmp_path / "dc.pth", *dcgan_parts())
    assert formats.identify(tmp_path / "pg.pth").family == "pggan"
    assert formats.identify(tmp_path / "dc.pth").family == "gan-zoo-dcgan"


def test_a_checkpoint_loads_by_its_layout_whatever_its_suffix(tmp_path):
    state = deepsim_state("pool5", code=5)
    torch.save(state, tmp_path / "generator_state_dict.model")
    torch.save(state, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    for name in ("generator_state_dict.model", "legacy.pt"):
        G = ganmetric.load_generator(str(tmp_path / name), dtype="float64", clamp=False)
        assert G.name == str(tmp_path / name) and G.variant == "pool5" and G.clamp is False
        assert G.weights == {"source": "saved-file"} and G.file_sha256 == sha256_file(tmp_path / name)
        z = G.sample(2)
        assert rel_err(G(z), deepsim_reference(state, z, clamp=False)) < 1e-12


def test_a_rosinality_stylegan2_checkpoint_loads_as_before(tmp_path):
    G = ganmetric.load_generator("stylegan2-demo")
    torch.save(G.to_checkpoint(), tmp_path / "550000.pt")
    F = ganmetric.load_generator(str(tmp_path / "550000.pt"), latent_space="z")
    z = F.sample(2)
    assert type(F).__name__ == "StyleGAN2Generator" and F.latent_space == "z"
    assert torch.allclose(F(z), ganmetric.load_generator("stylegan2-demo", latent_space="z")(z), atol=1e-6)


def test_programs_are_still_saved_generators(tmp_path):
    class Net(torch.nn.Module):
        def forward(self, z):
            return torch.tanh(z).reshape(z.shape[0], 1, 2, 2)

    torch.jit.save(torch.jit.trace(Net(), torch.zeros(2, 4)), tmp_path / "g.ts")
    assert formats.identify(tmp_path / "g.ts").route == "torchscript"
    assert ganmetric.load_generator(str(tmp_path / "g.ts"), latent_dim=4).latent_dim == 4
    program = torch.export.export(Net(), (torch.zeros(2, 4),), dynamic_shapes={"z": {0: torch.export.Dim("b")}})
    torch.export.save(program, tmp_path / "g.pt2")
    assert formats.identify(tmp_path / "g.pt2").route == "exported-program"


def test_an_nvidia_pickle_is_recognised_without_unpickling(tmp_path):
    marker = tmp_path / "MARKER"
    # protocol 2: dnnlib.util.EasyDict() -- then a call that would create the marker if anything ran
    stream = (b"\x80\x02cdnnlib.util\nEasyDict\nq\x00)\x81q\x01cbuiltins\nopen\nq\x02X" +
              len(str(marker)).to_bytes(4, "little") + str(marker).encode() + b"X\x01\x00\x00\x00w\x86R.")
    (tmp_path / "network-snapshot.pkl").write_bytes(stream)
    assert formats.identify(tmp_path / "network-snapshot.pkl").route == "nvidia-pickle"
    try:
        ganmetric.load_generator(str(tmp_path / "network-snapshot.pkl"))
    except (InputError, WeightsError) as exc:  # this branch may have no NVIDIA loader; either way one line
        assert "\n" not in str(exc)
    assert not marker.exists()


def test_unknown_files_say_what_was_found(tmp_path):
    torch.save({"net": {"fc.weight": torch.ones(2, 2)}, "epoch": 3}, tmp_path / "mine.pt")
    with pytest.raises(InputError, match=r"mine.pt is a file saved with torch.save \(a state dict\?\) whose layout "
                                         r"ganmetric does not know: load it .*--model module.path:factory --weights "
                                         r".*mine.pt \(layouts read by their family: a rosinality StyleGAN2"):
        ganmetric.load_generator(str(tmp_path / "mine.pt"))
    assert "keys epoch, net" in formats.identify(tmp_path / "mine.pt").what
    torch.save({"a": torch.ones(1)}, tmp_path / "mine.bin")
    with pytest.raises(InputError, match="mine.bin is a PyTorch file.*not a generator"):
        ganmetric.load_generator(str(tmp_path / "mine.bin"))
    (tmp_path / "notes.pkl").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(InputError, match="notes.pkl is a pickle file, not a generator"):
        ganmetric.load_generator(str(tmp_path / "notes.pkl"))


def test_a_checkpoint_model_takes_no_weights_and_only_its_family_options(tmp_path):
    torch.save(deepsim_state("fc6"), tmp_path / "g.pt")
    with pytest.raises(InputError, match="is a DeePSim generator state dict .*: the file is the weights; leave "
                                         "weights out, or give it with the model 'deepsim'"):
        ganmetric.load_generator(str(tmp_path / "g.pt"), weights=str(tmp_path / "g.pt"))
    with pytest.raises(InputError, match="truncation cannot be set for a DeePSim generator state dict"):
        ganmetric.load_generator(str(tmp_path / "g.pt"), truncation=0.5)
    assert ganmetric.generators.registry.loader_options(str(tmp_path / "g.pt")) == ["variant", "clamp"]


def test_a_pickled_object_in_a_checkpoint_is_named_and_never_run(tmp_path):
    marker = tmp_path / "MARKER"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"g_ema": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(WeightsError, match=r"evil.pt holds a pickled io.open; ganmetric reads only tensors"):
        ganmetric.load_generator(str(tmp_path / "evil.pt"))
    assert not marker.exists()
