"""layer_metrics: the layers table against closed forms, its batch folders, resuming and refusals.

The closed form: a generator made of two linear maps, ``first: h = W1 z`` (m numbers) and
``out: x = W2 h`` (P pixels). The layer distance of ``first`` has the metric
``2 W1^T W1 / m`` and mse on the image ``2 (W2 W1)^T (W2 W1) / P``, the same at every point,
so every column of the table is known: counts and effective rank from the eigenvalues,
alignment from the eigenvectors, homogeneity 1.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import ganmetric
from ganmetric.analysis import layer_metrics, resolve_layers
from ganmetric.errors import InputError
from ganmetric.generators.base import Generator
from ganmetric.linalg import anisotropy_counts
from helpers_models import tiny_dcgan

N_LAT, M, P = 6, 10, 16


class TwoLinear(Generator):
    def __init__(self, seed=0, name="two-linear"):
        super().__init__(name=name, latent_dim=N_LAT, resolution=4)
        g = torch.Generator().manual_seed(seed)
        self.first = nn.Linear(N_LAT, M, bias=False).double()
        self.out = nn.Linear(M, P, bias=False).double()
        with torch.no_grad():
            self.first.weight.copy_(torch.randn(M, N_LAT, generator=g, dtype=torch.float64))
            self.out.weight.copy_(torch.randn(P, M, generator=g, dtype=torch.float64))
        self.freeze()

    def _generate(self, z):
        return self.out(self.first(z)).reshape(-1, 1, 4, 4)


def closed_forms(G):
    W1, W2 = G.first.weight, G.out.weight
    return {"first": 2 * W1.T @ W1 / M, "image": 2 * (W2 @ W1).T @ (W2 @ W1) / P}


@pytest.fixture(scope="module")
def mse64():
    return ganmetric.load_distance("mse", dtype="float64")


def test_the_table_matches_the_closed_forms(tmp_path, mse64):
    G = TwoLinear()
    codes = G.sample(3, seed=1)
    table = layer_metrics(G, "first", codes, tmp_path / "run", mse64, method="jacobian", alignment_ks=(2, 4, 50))
    assert [r["layer"] for r in table.rows] == ["first", "image"]
    assert table.alignment_ks == (2, 4, 6)                                    # 50 capped at n
    H = {name: torch.linalg.eigh(h) for name, h in closed_forms(G).items()}
    for row in table.rows:
        vals, vecs = H[row["layer"]]
        lam = vals.flip(0).numpy()
        assert row["top_eigval"] == pytest.approx(lam[0], rel=1e-10)
        assert [row["n99"], row["n999"]] == anisotropy_counts(lam, (0.99, 0.999)).tolist()
        assert row["effective_rank"] == pytest.approx(lam.sum() ** 2 / (lam ** 2).sum(), rel=1e-10)
        assert row["homogeneity_log"] == pytest.approx(1.0, abs=1e-9)      # the same metric at every point
        for k in table.alignment_ks:
            Ul, Ui = vecs.flip(1)[:, :k], H["image"][1].flip(1)[:, :k]
            want = float(torch.trace((Ul @ Ul.T) @ (Ui @ Ui.T))) / k          # trace of the projectors' product
            assert row[f"align_k{k}"] == pytest.approx(want, abs=1e-9)
            assert row[f"align_k{k}_random"] == pytest.approx(k / N_LAT)
    assert table.rows[0]["shape"] == "1x10" and table.rows[1]["shape"] == "1x1x4x4"
    assert table.baselines == {2: 2 / 6, 4: 4 / 6, 6: 1.0}
    np.testing.assert_allclose(table.spectra["first"], (H["first"][0].flip(0) / H["first"][0].max()).numpy(),
                               rtol=1e-9, atol=1e-12)


def test_the_output_layer_row_is_the_image_row(tmp_path, mse64):
    """A DCGAN's last module outputs the image: its layer metric is the mse metric, alignment 1."""
    G = tiny_dcgan()
    table = layer_metrics(G, "main.7,main.2", G.sample(2, seed=0), tmp_path / "run", mse64, method="jacobian",
                          alignment_ks=(3,))
    rows = {r["layer"]: r for r in table.rows}
    assert [r["layer"] for r in table.rows] == ["main.2", "main.7", "image"]   # forward order
    assert rows["main.7"]["align_k3"] == pytest.approx(1.0, abs=1e-9)
    assert rows["main.7"]["top_eigval"] == pytest.approx(rows["image"]["top_eigval"], rel=1e-10)
    assert 3 / 8 < rows["main.2"]["align_k3"] < 1.0
    assert (tmp_path / "run" / "layer_main.2" / "point_00001.npz").exists()
    res = ganmetric.load_result(tmp_path / "run" / "layer_main.2" / "point_00000.npz")
    assert res.meta["distance"] == "layer:main.2" and res.meta["distance_options"] == {"layers": ["main.2"]}


def test_resume_keeps_points_and_refuses_another_run(tmp_path, mse64):
    G = TwoLinear()
    out = tmp_path / "run"
    codes = G.sample(2, seed=0)
    layer_metrics(G, "first", codes, out, mse64, method="jacobian")
    before = {p: p.stat().st_mtime_ns for p in out.rglob("point_*.npz")}
    layer_metrics(G, "first", codes, out, mse64, method="jacobian")
    assert {p: p.stat().st_mtime_ns for p in out.rglob("point_*.npz")} == before   # nothing recomputed
    files = sorted(out.rglob("*"))
    with pytest.raises(InputError, match=r"holds a layers run with other settings \(layers: directory has "
                                         r"\[\"first\"\], this run \[\"first\", \"out\"\]\)"):
        layer_metrics(G, "first,out", codes, out, mse64, method="jacobian")
    with pytest.raises(InputError, match="model: directory has \"two-linear\", this run \"other\""):
        layer_metrics(TwoLinear(name="other"), "first", codes, out, mse64, method="jacobian")
    with pytest.raises(InputError, match="method: directory has \"jacobian\", this run \"bp\""):
        layer_metrics(G, "first", codes, out, mse64, method="bp")
    assert sorted(out.rglob("*")) == files
    # more points grow every folder
    table = layer_metrics(G, "first", G.sample(3, seed=0), out, mse64, method="jacobian")
    assert table.meta["n_points"] == 3 and (out / "layer_first" / "point_00002.npz").exists()


@pytest.mark.parametrize("layers, message", [
    ("frist", "two-linear has no layer frist; near matches: first"),
    ("first,first", "layers must name each layer once, got first twice"),
    ("", "layers must name layers as NAME or NAME1,NAME2"),
])
def test_bad_layers_write_nothing(tmp_path, mse64, layers, message):
    with pytest.raises(InputError, match=message) as err:
        layer_metrics(TwoLinear(), layers, TwoLinear().sample(2), tmp_path / "run", mse64)
    assert err.value.argument == "layers" and not (tmp_path / "run").exists()


def test_other_refusals_write_nothing(tmp_path, mse64):
    G = TwoLinear()
    with pytest.raises(InputError, match="D is the image distance the layers are compared with, not a layer distance"):
        layer_metrics(G, "first", G.sample(2), tmp_path / "run", ganmetric.load_distance("layer:out"))
    with pytest.raises(InputError, match="codes must have shape"):
        layer_metrics(G, "first", torch.zeros(2, 5, dtype=torch.float64), tmp_path / "run", mse64)
    with pytest.raises(InputError, match="max_iter must be at least 1"):
        layer_metrics(G, "first", G.sample(2), tmp_path / "run", mse64, method="gn-lanczos", k=2, max_iter=0)
    assert not (tmp_path / "run").exists()


def test_all_is_every_usable_leaf_in_forward_order():
    G = tiny_dcgan()
    assert [i.name for i in resolve_layers(G, "all")] == [f"main.{i}" for i in range(8)]
    assert [i.name for i in resolve_layers(TwoLinear(), "all")] == ["first", "out"]


def test_stop_ends_the_run_early_and_it_resumes(tmp_path, mse64):
    G = TwoLinear()
    table = layer_metrics(G, "first", G.sample(2), tmp_path / "run", mse64, method="jacobian", stop=lambda: True)
    assert table.interrupted and table.rows == []
    table = layer_metrics(G, "first", G.sample(2), tmp_path / "run", mse64, method="jacobian")
    assert not table.interrupted and len(table.rows) == 2


class NanImage(TwoLinear):
    """TwoLinear whose image (not its first layer) is NaN for codes with z_0 > 0.5."""

    def _generate(self, z):
        x = super()._generate(z)
        return torch.where(z[:, :1, None, None] > 0.5, torch.full_like(x, float("nan")), x)


def test_points_that_failed_in_one_folder_are_left_out_of_every_row(tmp_path, mse64):
    G = NanImage()
    codes = G.sample(6, seed=3)
    bad = [i for i in range(6) if codes[i, 0] > 0.5]
    assert 0 < len(bad) < 5                                           # some points fail, at least two do not
    table = layer_metrics(G, "first", codes, tmp_path / "run", mse64, method="jacobian")
    assert table.meta["failed_points"] == bad and table.meta["points_used"] == 6 - len(bad)
    assert len(list((tmp_path / "run" / "layer_first").glob("point_*.npz"))) == 6    # its activations are finite
    assert len(list((tmp_path / "run" / "image").glob("point_*.npz"))) == 6 - len(bad)
    lam = torch.linalg.eigvalsh(closed_forms(G)["first"]).flip(0)
    row = next(r for r in table.rows if r["layer"] == "first")
    assert row["top_eigval"] == pytest.approx(float(lam[0]), rel=1e-10)   # the same metric at every point used
    assert [p.name for p in table.files] == ["layers.csv", "layers.json", "layers_spectra.png", "layers_summary.png"]


def test_a_second_run_into_the_folder_is_refused_while_one_holds_it(tmp_path, mse64):
    from ganmetric.locks import FolderLock
    G = TwoLinear()
    with FolderLock(tmp_path / "run"):
        with pytest.raises(ganmetric.FolderLockedError, match="run is in use by another ganmetric run"):
            layer_metrics(G, "first", G.sample(2), tmp_path / "run", mse64, method="jacobian")
    assert not (tmp_path / "run").exists()


def test_save_writes_the_table_and_figures(tmp_path, mse64):
    import json
    G = tiny_dcgan()
    table = layer_metrics(G, "main.2,main.5", G.sample(2), tmp_path / "run", mse64, method="jacobian")
    assert [p.name for p in table.files] == ["layers.csv", "layers.json", "layers_spectra.png", "layers_summary.png"]
    paths = table.save(tmp_path / "run")
    assert [p.name for p in paths] == ["layers.csv", "layers.json", "layers_spectra.png", "layers_summary.png"]
    header = (tmp_path / "run" / "layers.csv").read_text().splitlines()[0].split(",")
    assert header[:6] == ["layer", "type", "shape", "elements", "forward_order", "n99"]
    assert header[-2:] == ["align_k8", "align_k8_random"]                    # k = 10 and 50 both capped at n = 8
    saved = json.loads((tmp_path / "run" / "layers.json").read_text())
    assert saved["layers"] == ["main.2", "main.5"] and saved["model"] == "tiny-dcgan"
    assert saved["alignment"]["random_baseline"] == {"8": 1.0}
    for png in paths[2:]:
        assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_stylegan2_synthesis_layers_with_a_top_k_method(tmp_path):
    """stylegan2-demo in w: two synthesis layers by gn-lanczos (top 5); the alignment's k is capped at the 5 stored."""
    G = ganmetric.load_generator("stylegan2-demo")
    D = ganmetric.load_distance("mse")
    table = layer_metrics(G, "g_ema.convs.1.activate,g_ema.conv1.activate", G.sample(2, seed=0), tmp_path / "run", D,
                          method="gn-lanczos", k=5)
    assert [r["layer"] for r in table.rows] == ["g_ema.conv1.activate", "g_ema.convs.1.activate", "image"]
    assert table.alignment_ks == (5,)
    assert all(0 <= r["align_k5"] <= 1 + 1e-6 for r in table.rows)
    assert table.rows[-1]["align_k5"] == pytest.approx(1.0, abs=1e-5)
    assert table.meta["resolved_method"] == "gn-lanczos" and table.rows[0]["shape"] == "1x128x4x4"
