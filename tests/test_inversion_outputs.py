"""ganmetric.inversion.outputs: the files of a run, written whole (the previous set or the new one), the summary
naming the run's model, distance and inputs, and the text report."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import ganmetric
from ganmetric.errors import InputError
from ganmetric.inversion import OUTPUTS, invert, inversion_summary, report_lines, write_outputs
from ganmetric.staging import staged_dir
from helpers import TinyConvGenerator


@pytest.fixture(scope="module")
def run():
    G = TinyConvGenerator(n=4, seed=1, res=8).double()
    D = ganmetric.load_distance("mse", dtype="float64")
    z_star = torch.randn(1, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    res = invert(G, G(z_star)[0], D, steps=5, lr=0.05, restarts=2, seed=0, true_z=z_star[0])
    return G, D, res


def test_every_promised_file_holds_the_run_and_lands_in_a_callers_stage(run, tmp_path):
    """ganmetric invert holds the folder for the whole run and has the set written into its own stage."""
    G, D, res = run
    out = tmp_path / "inv"
    with staged_dir(out, outputs=tuple(OUTPUTS.values()), what="invert") as stage:
        write_outputs(stage, res, inversion_summary(G, D, res, image="face.png", box=(0, 0, 8, 8)))
        assert not out.exists()
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS.values())
    np.testing.assert_allclose(np.load(out / "code.npy"), res.z.numpy(), rtol=0, atol=1e-12)
    assert np.load(out / "codes.npy").shape == (2, 4)
    assert np.load(out / "losses.npy").shape == (2, 5)
    written = json.loads((out / "summary.json").read_text())
    assert written["image"] == "face.png" and written["box"] == [0, 0, 8, 8] and written["files"] == OUTPUTS
    assert written["model"] == ganmetric.generators.model_meta(G)["model"]
    assert written["distance"] == "mse"


def test_an_earlier_set_is_kept_unless_overwrite(run, tmp_path):
    G, D, res = run
    for name in OUTPUTS.values():
        (tmp_path / name).write_bytes(b"earlier run")
    with pytest.raises(InputError) as info:
        write_outputs(tmp_path, res, inversion_summary(G, D, res))
    assert info.value.argument is not None
    assert all((tmp_path / name).read_bytes() == b"earlier run" for name in OUTPUTS.values())
    write_outputs(tmp_path, res, inversion_summary(G, D, res), overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(OUTPUTS.values())
    np.testing.assert_allclose(np.load(tmp_path / "code.npy"), res.z.numpy(), rtol=0, atol=1e-12)


def test_report_names_the_fit_and_the_known_code(run):
    _, _, res = run
    lines = report_lines(res)
    assert lines[1].startswith(f"best loss {res.loss:.5g}")
    assert any(line.startswith("to the known code: cosine similarity") for line in lines)
    assert not any(line.startswith("interrupted") for line in lines)
