"""The restricted reader of NVIDIA network pickles: records instead of code, one-line refusals, nothing executed."""
from __future__ import annotations

import os
import pickle
import sys
import types

import pytest
import torch

from ganmetric.errors import InputError, WeightsError
from ganmetric.generators.nvidia import pickles
from ganmetric.generators.nvidia.pickles import KNOWN_SOURCES, PersistentRecord, read_network_pickle, source_sha256
from ganmetric.generators.nvidia import random_nvidia_generator
from helpers_nvidia import OWN_SOURCE, SG2_KWARGS, generator_record, marker_source, nvidia_globals, write_snapshot


@pytest.fixture(scope="module")
def tiny_sg2():
    return random_nvidia_generator("stylegan2", SG2_KWARGS, seed=1)


def test_a_snapshot_reads_as_records_with_every_tensor(tmp_path, tiny_sg2):
    path = tmp_path / "net.pkl"
    write_snapshot(path, generator_record(tiny_sg2, SG2_KWARGS))
    data = read_network_pickle(path)
    assert set(data) == {"training_set_kwargs", "G", "D", "G_ema", "augment_pipe"}
    rec = data["G_ema"]
    assert isinstance(rec, PersistentRecord) and rec.class_name == "Generator" and rec.module_src == OWN_SOURCE
    assert rec.init_kwargs["synthesis_kwargs"]["channel_base"] == 64
    tensors, empty = rec.tensors()
    expected = {**{f"mapping.{k}": v for k, v in tiny_sg2.mapping.state_dict().items()},
                **{f"synthesis.{k}": v for k, v in tiny_sg2.synthesis.state_dict().items()}}
    assert set(tensors) == set(expected) and not empty
    for k, v in expected.items():  # bit-equal: the storages went through torch.load(weights_only=True)
        assert torch.equal(tensors[k], v), k


def test_the_embedded_source_is_never_executed(tmp_path, tiny_sg2):
    """The source would create a marker if executed (checked by running it ourselves first); reading does not."""
    marker = tmp_path / "marker"
    src = marker_source(marker)
    exec(compile(src, "test-source", "exec"), {})  # the source does what it says ...
    assert marker.exists()
    marker.unlink()
    path = tmp_path / "evil.pkl"
    write_snapshot(path, generator_record(tiny_sg2, SG2_KWARGS, src=src))
    rec = read_network_pickle(path)["G_ema"]
    assert rec.module_src == src and not marker.exists()  # ... and reading the file never runs it


class _System:
    """Pickles as a call of os.system (the classic malicious pickle)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_a_global_outside_the_allow_list_is_refused_in_one_line_and_not_called(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": _System(f"touch {marker}")}, protocol=4))
    with pytest.raises(WeightsError) as err:
        read_network_pickle(path)
    assert f"needs the global {os.system.__module__}.system" in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists()


def test_a_tensorflow_era_pickle_is_refused_with_how_to_convert(tmp_path, monkeypatch):
    network = types.ModuleType("dnnlib.tflib.network")

    Network = type("Network", (), {"__module__": network.__name__, "__qualname__": "Network"})
    network.Network = Network
    for name in ("dnnlib", "dnnlib.tflib", "dnnlib.tflib.network"):
        monkeypatch.setitem(sys.modules, name, network if name.endswith("network") else types.ModuleType(name))
    path = tmp_path / "stylegan2-ffhq-config-f.pkl"
    path.write_bytes(pickle.dumps((Network(), Network(), Network()), protocol=3))
    with pytest.raises(WeightsError, match=r"TensorFlow-era StyleGAN pickle: convert it with NVIDIA's "
                                           r"stylegan2-ada-pytorch \(`python legacy.py --source="):
        read_network_pickle(path)


@pytest.mark.parametrize("kind", ["truncated", "plain-dict", "torch-save", "text", "empty"])
def test_files_that_are_not_network_pickles(tmp_path, tiny_sg2, kind):
    path = tmp_path / "x.pkl"
    if kind == "truncated":
        write_snapshot(path, generator_record(tiny_sg2, SG2_KWARGS))
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        match = "is truncated or corrupt: not a readable NVIDIA network pickle"
    elif kind == "plain-dict":
        path.write_bytes(pickle.dumps({"a": 1, "b": [1, 2]}, protocol=4))
        match = "is a pickle but not an NVIDIA network snapshot"
    elif kind == "torch-save":
        torch.save({"w": torch.zeros(2)}, path)
        match = r"is a PyTorch file \(torch.save\), not an NVIDIA network pickle"
    elif kind == "text":
        path.write_text("hello")
        match = "is not a pickle file, not an NVIDIA network pickle"
    else:
        path.write_bytes(b"")
        match = "is not a pickle file"
    with pytest.raises(WeightsError, match=match) as err:
        read_network_pickle(path)
    assert "\n" not in str(err.value)


def test_missing_file():
    with pytest.raises(InputError, match="NVIDIA network pickle not found"):
        read_network_pickle("/nonexistent/ffhq.pkl")


def test_network_selection_and_format_version(tmp_path, tiny_sg2):
    path = tmp_path / "only_ema.pkl"
    with nvidia_globals(), open(path, "wb") as f:
        pickle.dump({"G_ema": generator_record(tiny_sg2, SG2_KWARGS)}, f, protocol=4)
    data = read_network_pickle(path)
    assert pickles.network_record(data, "G_ema", path).class_name == "Generator"
    with pytest.raises(InputError, match=r"only_ema.pkl holds G_ema, not G") as err:
        pickles.network_record(data, "G", path)
    assert err.value.argument == "network"
    old = tmp_path / "old.pkl"
    write_snapshot(old, generator_record(tiny_sg2, SG2_KWARGS, version=5))
    with pytest.raises(WeightsError, match="persistence format version 5; ganmetric reads version 6"):
        pickles.network_record(read_network_pickle(old), "G_ema", old)


def test_source_hash_ignores_a_byte_order_mark_and_line_endings():
    src = "import torch\n\nclass Generator:\n    pass\n"
    digest = source_sha256(src)
    assert digest == source_sha256("\ufeff" + src) == source_sha256(src.replace("\n", "\r\n"))
    assert digest != source_sha256(src + "# a comment\n")


def test_the_known_sources_table():
    assert len(KNOWN_SOURCES) == 3
    for digest, (architecture, origin) in KNOWN_SOURCES.items():
        assert len(digest) == 64 and int(digest, 16) >= 0
        assert architecture in ("stylegan2", "stylegan3") and origin.startswith("NVlabs/")
    assert pickles.known_source(OWN_SOURCE) is None
