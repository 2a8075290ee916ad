"""The suite's own layout: every source module has its test module, and test modules do not import each other.

``ganmetric/a/b.py`` is tested in ``tests/test_a_b.py`` (``cli/ganmetric_cli/x.py`` in ``tests/test_cli_x.py``, a
leading underscore dropped), or, where its behaviour is tested through another module's public functions,
``MAPPED`` names the test modules that do and says what they check. Package ``__init__.py`` files re-export
(their names are tested through the modules that define them, their docstrings in test_docstrings.py) and
``__main__.py`` is the ``python -m`` entry. Shared test code lives in tests/helpers*.py.
"""
from __future__ import annotations

import ast

from helpers import ROOT

TESTS = ROOT / "tests"

#: source module -> (test modules that test it, what they check of it)
MAPPED = {
    "ganmetric/_progress.py": (["test_hessian_dense.py", "test_hessian_lanczos.py"],
                               "progress bars on stderr that change no result"),
    "ganmetric/analysis/batch_folder.py": (["test_analysis_batch.py"], "manifest, codes and point status of a batch"),
    "ganmetric/analysis/compress_plots.py": (["test_analysis_compress.py"], "the compression figures written"),
    "ganmetric/analysis/layer_plots.py": (["test_analysis_layers.py"], "the layer table's figures written"),
    "ganmetric/axes/directions.py": (["test_axes_compare.py"], "Directions, external directions loaded"),
    "ganmetric/axes/explore.py": (["test_cli_axes.py", "test_axes_montage.py"], "one exploration's outputs"),
    "ganmetric/axes/ganspace.py": (["test_axes_compare.py"], "GANSpace against closed-form principal directions"),
    "ganmetric/axes/outputs.py": (["test_cli_axes.py"], "the suffix rule per output, checked before any work"),
    "ganmetric/blackbox/methods.py": (["test_blackbox_run.py"], "each search method's budgets and optima"),
    "ganmetric/blackbox/units.py": (["test_blackbox_objectives.py"], "unit objectives against torchvision's layers"),
    "ganmetric/distances/base.py": (["test_distances.py", "test_hessian_metric.py"],
                                    "Distance, FeatureDistance and FunctionDistance through the metric"),
    "ganmetric/distances/lpips_distance.py": (["test_distances.py"], "LPIPS against the lpips package"),
    "ganmetric/distances/lpips_nets.py": (["test_distances.py"], "the backbones drawn as the lpips package did"),
    "ganmetric/distances/load.py": (["test_distances_registry.py", "test_distances_spec.py"],
                                    "load_distance: specs, options, refusals"),
    "ganmetric/errors.py": (["test_checks.py"], "typed errors naming their argument"),
    "ganmetric/generators/base.py": (["test_generators_custom.py", "test_generators_registry.py"],
                                     "the Generator interface through users' modules and the families"),
    "ganmetric/generators/bigbigan_layers.py": (["test_generators_bigbigan.py"], "BigBiGAN's layers, seeded weights"),
    "ganmetric/generators/families.py": (["test_generators_registry.py"], "every registered family"),
    "ganmetric/generators/ganzoo_file.py": (["test_generators_ganzoo.py"], "pytorch_GAN_zoo checkpoints"),
    "ganmetric/generators/nvidia/mapping.py": (["test_generators_nvidia_family.py", "test_generators_nvidia_build.py"],
                                               "the mapping network against NVIDIA's formulas"),
    "ganmetric/generators/nvidia/sg2.py": (["test_generators_nvidia_family.py", "test_generators_nvidia_build.py"],
                                           "StyleGAN2-ADA's synthesis network"),
    "ganmetric/generators/nvidia/sg3.py": (["test_generators_nvidia_family.py", "test_generators_nvidia_build.py"],
                                           "StyleGAN3's synthesis network (configs T and R)"),
    "ganmetric/generators/nvidia/trusted.py": (["test_generators_nvidia_family.py"], "trust_pickled_code's loader"),
    "ganmetric/generators/stylegan1_layers.py": (["test_generators_stylegan1.py"], "StyleGAN1's layers"),
    "ganmetric/inversion/plots.py": (["test_inversion_invert.py"], "the inversion's figures, without pyplot"),
    "ganmetric/inversion/problem.py": (["test_inversion_invert.py", "test_cli_invert.py"],
                                       "every input checked before any optimisation"),
    "ganmetric/linalg.py": (["test_hessian_metric.py", "test_analysis_spectrum.py"], "anisotropy counts"),
    "ganmetric/locks.py": (["test_staging.py", "test_analysis_batch.py"], "a folder in use is refused"),
    "ganmetric/paths/compare.py": (["test_paths_geodesic.py"], "geodesic, line and SLERP between two codes"),
    "ganmetric/paths/outputs.py": (["test_paths_plots.py", "test_cli_path.py"], "the files of a path run"),
    "ganmetric/paths/path.py": (["test_paths_measure.py", "test_paths_energy.py"], "a path's steps, length, energy"),
    "ganmetric/viewer/app.py": (["test_viewer_api.py"], "the page and the JSON API"),
    "ganmetric/viewer/protocol.py": (["test_viewer_api.py"], "the requests and answers the page exchanges"),
    "ganmetric/viewer/server.py": (["test_viewer_cli.py", "test_viewer_guard.py"], "serving and its guard"),
    "ganmetric/viewer/state.py": (["test_viewer_work.py", "test_viewer_api.py"], "the viewer's answers"),
    "ganmetric/usercode.py": (["test_generators_custom.py", "test_distances_custom.py"],
                              "module.path:factory for users' models and distances"),
    "cli/ganmetric_cli/compare.py": (["test_cli_analysis.py"], "the compare command"),
    "cli/ganmetric_cli/common.py": (["test_cli_hessian.py", "test_cli_distance_flags.py"],
                                    "the model, distance and solver option groups, through the commands"),
    "cli/ganmetric_cli/interrupts.py": (["test_staging_processes.py", "test_cli_optimize.py"],
                                        "Ctrl-C: stop after the current step, what was written is said"),
    "cli/ganmetric_cli/main.py": (["test_cli_imports.py", "test_cli_hessian.py"], "the command group and its imports"),
    "cli/ganmetric_cli/view.py": (["test_viewer_cli.py"], "the view command"),
}


def _sources():
    for path in sorted([*(ROOT / "ganmetric").rglob("*.py"), *(ROOT / "cli" / "ganmetric_cli").rglob("*.py")]):
        if path.name not in ("__init__.py", "__main__.py"):
            yield path.relative_to(ROOT).as_posix()


def own_test_module(source: str) -> str:
    """tests/test_<path>.py of a source module: ganmetric/hessian/metric.py -> test_hessian_metric.py."""
    parts = source[:-3].split("/")
    parts = ["cli", *parts[2:]] if parts[0] == "cli" else parts[1:]
    return "test_" + "_".join(part.lstrip("_") for part in parts) + ".py"


def test_every_source_module_has_a_test_module():
    missing = [src for src in _sources() if not (TESTS / own_test_module(src)).exists() and src not in MAPPED]
    assert not missing, f"modules with neither tests/{{test module}} nor an entry in MAPPED: {missing}"


def test_mapped_modules_and_their_tests_exist():
    stale = [src for src in MAPPED if not (ROOT / src).exists()]
    absent = [name for names, _ in MAPPED.values() for name in names if not (TESTS / name).exists()]
    assert not stale and not absent, (stale, absent)


def test_test_modules_do_not_import_each_other():
    """Importing a test module runs its module-level setup again and collects its fixtures twice."""
    offenders = []
    for path in sorted(TESTS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name} imports {n}" for n in names if n.split(".")[0].startswith("test_")]
    assert not offenders, offenders
