"""benchmarks/bench_gpu.py --quick: the GPU benchmark's four cases at tiny sizes on the CPU, so that it cannot rot."""
from __future__ import annotations

import importlib.util
import json

import pytest

from helpers import ROOT


def _bench():
    spec = importlib.util.spec_from_file_location("bench_gpu", ROOT / "benchmarks" / "bench_gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # about 5 s: four generators, LPIPS, bp and three Lanczos runs
def test_quick_run_writes_json_and_table_with_agreeing_methods(tmp_path):
    report = _bench().main(["--quick", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "bench_gpu.json").read_text())
    assert saved["quick"] is True and [c["space"] for c in saved["cases"]] == ["z", "full", "w", "w+"]
    runs = {(c["space"], r["method"]): r for c in report["cases"] for r in c["runs"]}
    assert set(runs) == {("z", "jacobian"), ("z", "bp"), ("z", "backward-iter"), ("full", "jacobian"),
                         ("full", "gn-lanczos"), ("w", "jacobian"), ("w", "gn-lanczos"), ("w+", "gn-lanczos")}
    for key, r in runs.items():
        assert r["seconds"] > 0 and r["peak_mib"] > 0 and r["converged"], key
        # float32 throughout: the exact methods agree with jacobian to float32 rounding (measured <= 4e-7)
        assert r.get("error", 0.0) <= 1e-5, key
    # auto: a tiny model fits whole in one pass, on the CPU too (far below CPU_PASS_BYTES)
    assert runs[("w+", "gn-lanczos")]["chunk"] == saved["cases"][3]["n"]
    table = (tmp_path / "bench_gpu.md").read_text()
    assert table.count("\n| ") == 1 + len(runs) and "| backward-iter | 4 |" in table
    assert report["threshold_failures"] == [] and "errors <= 1e-05): all hold" in table


def test_a_failing_case_is_recorded_and_the_report_is_written_after_each_case(tmp_path, monkeypatch):
    """Case 2 fails: case 1's record is already on disk when it does, and case 3 still runs; the report names
    the failure, the thresholds say so, and every product ran with TF32 off."""
    bench = _bench()
    seen_on_disk = []

    def boom(args, device):
        seen_on_disk.append(json.loads((tmp_path / "bench_gpu.json").read_text()))
        raise ModuleNotFoundError("No module named 'pytorch_pretrained_biggan'")

    monkeypatch.setitem(bench.CASES, "biggan-256", boom)
    report = bench.main(["--quick", "--out", str(tmp_path), "--cases", "stylegan2-256-w", "biggan-256",
                         "stylegan2-1024-w+"])
    assert [c["case"] for c in seen_on_disk[0]["cases"]] == ["StyleGAN2-256 architecture, random weights"]
    saved = json.loads((tmp_path / "bench_gpu.json").read_text())
    assert saved["cases"][1] == {"case": "biggan-256",
                                 "error": "ModuleNotFoundError: No module named 'pytorch_pretrained_biggan'"}
    assert [r["method"] for r in saved["cases"][2]["runs"]] == ["gn-lanczos"]
    assert saved["threshold_failures"] == report["threshold_failures"] == ["biggan-256 failed"]
    assert saved["float32_precision"]["cudnn.conv"] == "ieee" and saved["float32_precision"]["cuda.matmul"] == "ieee"
    table = (tmp_path / "bench_gpu.md").read_text()
    assert "| biggan-256 | | failed: ModuleNotFoundError: No module named 'pytorch_pretrained_biggan' |" in table
    assert "Thresholds (every run converged, errors <= 1e-05): biggan-256 failed" in table
