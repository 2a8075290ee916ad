import numpy as np
import pytest

import ganmetric
from ganmetric.analysis import load_results
from helpers_analysis import fake_result


def test_directory_and_files(tmp_path):
    for s in range(3):
        fake_result(tmp_path / f"point_{s:05d}.npz", [3.0, 2.0, 1.0], seed=s)
    fake_result(tmp_path / "average.npz", [2.0, 2.0, 2.0])          # a batch dir reads only point_*.npz
    rs = load_results(tmp_path)
    assert len(rs) == 3 and rs.dim == 3 and rs.k == 3 and rs.full
    assert rs.eigvecs.shape == (3, 3, 3)
    assert len(load_results([tmp_path / "point_00000.npz", tmp_path / "average.npz"])) == 2
    assert "3 result(s)" in rs.describe() and "full H" in rs.describe()


def test_common_k(tmp_path):
    fake_result(tmp_path / "a.npz", [3.0, 2.0, 1.0], H=False, n=5)
    fake_result(tmp_path / "b.npz", [3.0, 2.0], H=False, n=5)
    rs = load_results(tmp_path)
    assert rs.k == 2 and rs.truncated and not rs.full
    assert "reconstructed" in rs.describe() and "common k=2" in rs.describe()
    np.testing.assert_allclose(rs.metrics()[0], rs.results[0].metric())


def test_empty_directory(tmp_path):
    with pytest.raises(ganmetric.InputError, match="holds no result files"):
        load_results(tmp_path)


def test_missing_path(tmp_path):
    with pytest.raises(ganmetric.InputError, match="no such result file"):
        load_results(tmp_path / "nope")
    with pytest.raises(ganmetric.InputError, match="no result files"):
        load_results([])


def test_non_result_file(tmp_path):
    fake_result(tmp_path / "a.npz", [1.0, 0.5])
    (tmp_path / "b.npz").write_bytes(b"not a zip")
    with pytest.raises(ganmetric.ResultFileError, match="b.npz"):
        load_results(tmp_path)
    np.savez(tmp_path / "b.npz", x=np.zeros(3))
    with pytest.raises(ganmetric.ResultFileError, match="not a ganmetric result"):
        load_results(tmp_path)


@pytest.mark.parametrize("key,value", [("model", "other"), ("distance", "lpips-alex"), ("latent_space", "w")])
def test_mixed(tmp_path, key, value):
    fake_result(tmp_path / "a.npz", [1.0, 0.5])
    fake_result(tmp_path / "b.npz", [1.0, 0.5], **{key: value})
    with pytest.raises(ganmetric.InputError, match=f"mix {key}s"):
        load_results(tmp_path)


def test_mismatched_latent_sizes(tmp_path):
    fake_result(tmp_path / "a.npz", [1.0, 0.5])
    fake_result(tmp_path / "b.npz", [1.0, 0.5, 0.2])
    with pytest.raises(ganmetric.InputError, match="mismatched latent sizes.*n=2.*n=3"):
        load_results(tmp_path)


def test_min_count(tmp_path):
    fake_result(tmp_path / "a.npz", [1.0, 0.5])
    with pytest.raises(ganmetric.InputError, match="at least 2"):
        load_results(tmp_path, min_count=2)


def test_results_of_other_settings_are_not_mixed(tmp_path):
    """The same model and distance names with another class, or another random LPIPS backbone, are other metrics."""
    (tmp_path / "a").mkdir()
    fake_result(tmp_path / "a" / "h.npz", [1.0, 0.5], model_options={"class_name": "hazel"})
    fake_result(tmp_path / "a" / "b.npz", [1.0, 0.5], model_options={"class_name": "blue"})
    with pytest.raises(ganmetric.InputError, match="^results mix settings: class name blue in b.npz, hazel in h.npz; "
                                                   "analyse one setting at a time$"):
        load_results(tmp_path / "a")
    (tmp_path / "d").mkdir()
    fake_result(tmp_path / "d" / "r0.npz", [1.0, 0.5], distance="lpips-alex", distance_options={"backbone": "random:0"})
    fake_result(tmp_path / "d" / "r1.npz", [1.0, 0.5], distance="lpips-alex", distance_options={"backbone": "random:1"})
    with pytest.raises(ganmetric.InputError, match="backbone random:0 in r0.npz, random:1 in r1.npz"):
        load_results(tmp_path / "d")


@pytest.mark.parametrize("damage", ["truncate", "flip a byte"])
def test_a_damaged_point_file_says_so_and_that_batch_recomputes_it(tmp_path, damage):
    """Not "not a readable ganmetric result file (.npz): it is a zip archive" (an .npz is one)."""
    for s in range(2):
        fake_result(tmp_path / f"point_{s:05d}.npz", [3.0, 2.0, 1.0], seed=s)
    data = bytearray((tmp_path / "point_00001.npz").read_bytes())
    if damage == "truncate":
        data = data[:len(data) // 2]
    else:
        data[120] ^= 0xFF  # inside the first member's compressed bytes: a CRC error
    (tmp_path / "point_00001.npz").write_bytes(bytes(data))
    (tmp_path / "loose.npz").write_bytes((tmp_path / "point_00001.npz").read_bytes())
    with pytest.raises(ganmetric.ResultFileError, match=r"point_00001.npz is truncated or corrupt: an .npz \(zip\) "
                                                        r"file that cannot be read to the end$"):
        load_results(tmp_path)  # no manifest: not known to be a batch folder
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(ganmetric.ResultFileError, match=r"point_00001.npz is truncated or corrupt: .*; re-running the "
                                                        r"`ganmetric batch` command that made .* recomputes it$"):
        load_results(tmp_path)
    with pytest.raises(ganmetric.ResultFileError, match=r"loose.npz is truncated or corrupt: an .npz \(zip\) file "
                                                        r"that cannot be read to the end$"):
        ganmetric.load_result(tmp_path / "loose.npz")


def test_a_zip_that_is_no_result_is_still_named(tmp_path):
    import zipfile
    with zipfile.ZipFile(tmp_path / "doc.npz", "w") as zf:
        zf.writestr("word/document.xml", "<w/>")
    with pytest.raises(ganmetric.ResultFileError, match="doc.npz is not a ganmetric result file: missing eigvals"):
        ganmetric.load_result(tmp_path / "doc.npz")
