"""Exported programs (.pt2) are checked before torch reads them: nothing in the archive runs or unpickles on load.

Each crafted archive is a real ``torch.export.save`` archive with one entry changed the way an
attacker would; where torch's own loader would run the payload, a test first shows that it
does (the marker file appears), so the refusal is of a live threat.
"""
from __future__ import annotations

import io
import json
import pickle
import warnings

import pytest
import torch
from click.testing import CliRunner

import ganmetric
from ganmetric.errors import InputError
from helpers import one_error_line


class _Marker:
    """Unpickling this creates the file ``path`` (what an attacker's payload would do instead of worse)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 12)

    def forward(self, z):
        return torch.tanh(self.fc(z)).reshape(-1, 3, 2, 2)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    path = tmp_path_factory.mktemp("pt2") / "plain.pt2"
    batch = torch.export.Dim("batch", min=1)
    torch.export.save(torch.export.export(_Net().eval(), (torch.zeros(2, 4),), dynamic_shapes={"z": {0: batch}}), path)
    return path


def _rewrite(src, dst, change):
    """Copy archive ``src`` to ``dst`` with ``change(records)`` applied to its {name: bytes}."""
    reader = torch._C.PyTorchFileReader(io.BytesIO(src.read_bytes()))
    records = {name: reader.get_record(name) for name in reader.get_all_records()}
    change(records)
    writer = torch._C.PyTorchFileWriter(str(dst))
    for name, data in records.items():
        if name not in (".data/version", ".data/serialization_id"):  # the writer adds its own
            writer.write_record(name, data, len(data))
    writer.write_end_of_file()
    return dst


def _pickled_weight(marker):
    def change(records):
        cfg = json.loads(records["data/weights/model_weights_config.json"])
        cfg["config"]["fc.bias"]["use_pickle"] = True
        records["data/weights/model_weights_config.json"] = json.dumps(cfg).encode()
        records["data/weights/" + cfg["config"]["fc.bias"]["path_name"]] = pickle.dumps(_Marker(marker))
    return change


def _pickled_sample_inputs(marker):
    def change(records):
        records["data/sample_inputs/model.pt"] = pickle.dumps(_Marker(marker))
    return change


def _opaque_constant(marker):
    def change(records):
        records["data/constants/model_constants_config.json"] = json.dumps({"config": {"c": {
            "path_name": "opaque_obj_0", "is_param": False, "use_pickle": True, "tensor_meta": None}}}).encode()
        records["data/constants/opaque_obj_0"] = pickle.dumps(_Marker(marker))
    return change


def _compiled_code(marker):
    def change(records):
        records["data/aotinductor/model/model.so"] = b"\x7fELF"
    return change


def _legacy_weights(marker):
    def change(records):
        records["data/weights/model.pt"] = pickle.dumps(_Marker(marker))
    return change


@pytest.mark.parametrize("change, why", [
    (_pickled_weight, "the pickled payload fc.bias"),
    (_pickled_sample_inputs, "data/sample_inputs/model.pt, a pickle of more than tensors"),
])
def test_torch_would_run_the_payload_and_ganmetric_refuses_it(plain, tmp_path, change, why):
    marker = tmp_path / "marker"
    evil = _rewrite(plain, tmp_path / "evil.pt2", change(marker))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.export.load(str(evil))  # what torch does with the file on its own
    except Exception:
        pass
    assert marker.exists(), "the crafted archive must be live for this test to mean anything"
    marker.unlink()
    with pytest.raises(InputError, match=f"evil.pt2 is an exported program that holds .*{why}.*would run code"):
        ganmetric.load_generator(str(evil))
    assert not marker.exists()


@pytest.mark.parametrize("change, why", [
    (_opaque_constant, "the pickled payload c"),
    (_compiled_code, "compiled AOTInductor code"),
    (_legacy_weights, "the entry data/weights/model.pt outside its raw-tensor payloads"),
])
def test_other_entries_that_run_code_are_refused(plain, tmp_path, change, why):
    marker = tmp_path / "marker"
    evil = _rewrite(plain, tmp_path / "evil.pt2", change(marker))
    with pytest.raises(InputError, match=why):
        ganmetric.load_generator(str(evil))
    assert not marker.exists()


def test_a_plain_archive_rewritten_unchanged_still_loads(plain, tmp_path):
    """The crafting itself is not what the check refuses."""
    same = _rewrite(plain, tmp_path / "same.pt2", lambda records: None)
    G = ganmetric.load_generator(str(same))
    z = G.sample(2, seed=0)
    torch.testing.assert_close(G(z), ganmetric.load_generator(str(plain))(z), rtol=0, atol=0)


def test_cli_hessian_refuses_an_evil_archive_in_one_line(plain, tmp_path):
    from ganmetric_cli.main import main
    marker = tmp_path / "marker"
    evil = _rewrite(plain, tmp_path / "evil.pt2", _pickled_weight(marker))
    res = CliRunner().invoke(main, ["hessian", "--model", str(evil), "--distance", "mse", "-q",
                                    "-o", str(tmp_path / "h.npz")])
    one_error_line(res, "evil.pt2 is an exported program that holds the pickled payload fc.bias")
    assert res.exit_code == 2  # bad input
    assert not marker.exists() and not (tmp_path / "h.npz").exists()
