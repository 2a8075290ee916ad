"""Small generators with known answers, and helpers for CLI results, result files and weight caches."""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from torch import nn

from ganmetric.generators.base import Generator

ROOT = Path(__file__).resolve().parents[1]


def subprocess_env(**extra) -> dict:
    """Environment for child processes that must import this checkout (one thread each)."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "cli"), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


@contextlib.contextmanager
def importable_from(folder, module: str):
    """``with importable_from(folder, "name"):`` the module ``name`` in ``folder`` can be imported (the folder
    first on sys.path) for the block only; afterwards it is forgotten, so another test imports its own copy."""
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(module, None)


def sigint_as_at_a_terminal() -> None:
    """``preexec_fn`` of a child that a test interrupts with SIGINT: the child starts with SIGINT's default
    action, so Python turns it into KeyboardInterrupt even when pytest itself runs with SIGINT ignored (under
    ``nohup``, or started in the background by a script), which the child would otherwise inherit."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def one_error_line(res, match):
    """A CLI result that failed with exactly one ``Error:`` line holding ``match`` and no traceback.

    Bad input exits 2, a failure at run time 1 (ganmetric_cli.errors.one_line_error); ganmetric's own
    errors print that line alone, click's usage errors (UsageError) may print the usage above it."""
    assert res.exit_code in (1, 2), res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and match in errors[0], res.output
    if not lines[0].startswith("Usage:"):
        assert len(lines) == 1, res.output
    assert "Traceback" not in res.output


def last_line_error(res, pattern):
    """A CLI result that failed and whose last line is an ``Error:`` line holding ``pattern`` (progress
    or notes may come before it), without a traceback."""
    assert res.exit_code != 0, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert lines[-1].startswith("Error:") and pattern in lines[-1], res.output
    assert not any(line.startswith("Traceback") for line in lines)


class LinearGenerator(Generator):
    """G(z) = A z reshaped to (C, H, W): with mse, H = 2 A^T A / N exactly."""

    def __init__(self, A: torch.Tensor, shape=(1, 4, 4)):
        super().__init__(name="linear", latent_dim=A.shape[1], resolution=shape[-1])
        self.shape = shape
        self.register_buffer("A", A)
        self.freeze()

    def _generate(self, z):
        return (z @ self.A.T).reshape(z.shape[0], *self.shape)


class TinyConvGenerator(Generator):
    """A small random DCGAN-like conv generator (tanh output), deterministic by seed."""

    def __init__(self, n: int = 8, seed: int = 0, res: int = 16, channels: int = 3):
        super().__init__(name="tiny-conv", latent_dim=n, resolution=res)
        self.fc = nn.Linear(n, 16 * 4 * 4)
        layers, c, side = [], 16, 4
        while side < res:
            layers += [nn.ConvTranspose2d(c, 8, 4, 2, 1), nn.BatchNorm2d(8), nn.Softplus()]
            c, side = 8, side * 2
        layers += [nn.Conv2d(c, channels, 3, 1, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        randomize_(self, seed)
        self.freeze()

    def _generate(self, z):
        return self.body(self.fc(z).reshape(-1, 16, 4, 4))


class NoisyGenerator(Generator):
    """A generator the determinism probe must refuse: ``dropout`` (two calls differ), ``batchstats`` (a code's
    output depends on its batch, as under train-mode BatchNorm) or ``nan`` (a non-finite image)."""

    def __init__(self, mode: str):
        super().__init__(name=f"noisy-{mode}", latent_dim=4)
        self.mode = mode
        self.freeze()

    def _generate(self, z):
        x = z.repeat(1, 4)
        if self.mode == "dropout":
            x = torch.nn.functional.dropout(x, 0.5, training=True)
        elif self.mode == "batchstats":
            x = x - x.mean(0, keepdim=True)
        elif self.mode == "nan":
            x = x * float("nan")
        return x.reshape(-1, 1, 4, 4)


def randomize_(module: nn.Module, seed: int, scale: float = 0.5) -> nn.Module:
    """Seeded random weights (N(0, scale^2)) and BatchNorm running statistics, in place; returns the module.

    Random weights rather than a framework's initialisation make every layer matter (a fair
    test), and the stored statistics make eval-mode BatchNorm a non-trivial affine map.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return module


def imported_modules(path: Path) -> set[str]:
    """Every module a ganmetric source file imports, as absolute dotted names, at any depth (lazy imports too)."""
    import ast
    path = Path(path).resolve()
    package = list(path.relative_to(ROOT).with_suffix("").parts[:-1])
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            if node.module:
                out.add(".".join(base + [node.module]))
            else:  # from .. import axes: the names are modules
                out.update(".".join(base + [alias.name]) for alias in node.names)
    return out


def assert_jacobian_matches_dense(G, z0: torch.Tensor) -> None:
    """The full metric of a float64 generator (``jacobian``, mse) equals :func:`ganmetric.testing.dense_hessian`
    (rtol 1e-8)."""
    import ganmetric
    from ganmetric.testing import dense_hessian
    D = ganmetric.load_distance("mse", dtype="float64")
    res = ganmetric.metric_tensor(G, D, z0, method="jacobian")
    ref = dense_hessian(G, D, z0)
    assert torch.allclose(torch.as_tensor(res.H), ref, rtol=1e-8, atol=1e-10 * ref.abs().max())


def save_with(path, result, **meta):
    """Save a result with the meta a test chooses, reserved keys (model, distance, kind, ...) included.

    ``save_result`` refuses reserved keys: a real result records its model and distance from
    the objects that computed it. A test standing in for those objects puts them into the
    result itself, as ``metric_tensor`` and ``average_metric`` do, and saves the rest as extras.
    ``result`` may be any object with eigvals, eigvecs, z (and H, residuals, method).
    """
    from dataclasses import replace

    from ganmetric.result import RESERVED_KEYS, MetricResult
    own = {k: meta.pop(k) for k in list(meta) if k in RESERVED_KEYS}
    if not isinstance(result, MetricResult):
        result = MetricResult(eigvals=result.eigvals, eigvecs=result.eigvecs, z=result.z,
                              H=getattr(result, "H", None), residuals=getattr(result, "residuals", None),
                              method=getattr(result, "method", None))
    result = replace(result, kind=own.pop("kind", result.kind), method=own.pop("method", result.method),
                     meta={**result.meta, **own})
    return result.save(path, **meta).path


def fake_weights_index(folder: Path, member: bytes, *, package: str = "ganmetric_fake_weights",
                       version: str = "1.0") -> dict:
    """A local package index holding one wheel with a weights file, and the config ``weights`` block for it.

    Point pip at it with ``PIP_NO_INDEX=1`` and ``PIP_FIND_LINKS=folder/"links"`` in the environment:
    ``weights.fetch_pypi_member`` then runs its real ``pip download`` with no network.
    """
    import hashlib
    import zipfile
    links = folder / "links"
    links.mkdir(parents=True, exist_ok=True)
    wheel = links / f"{package}-{version}-py3-none-any.whl"
    info = f"{package}-{version}.dist-info"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(f"{package}/weights.bin", member)
        zf.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: ganmetric-tests\nRoot-Is-Purelib: true\n"
                                     "Tag: py3-none-any\n")
        zf.writestr(f"{info}/RECORD", "")
    return {"source": "pypi-wheel", "package": package, "version": version,
            "wheel_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(), "member": f"{package}/weights.bin",
            "member_sha256": hashlib.sha256(member).hexdigest()}


def cache_weights(model: str, spec: dict, data: bytes) -> Path:
    """Write ``data`` as the cached weight file of ``model`` (in ``$GANMETRIC_CACHE``); returns its path."""
    from ganmetric.generators import weights
    path = weights.cached_path(model, spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


#: Chromium as root in a container with no network: no sandbox, no GPU, no background connections
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                  "--no-first-run", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync")


@contextlib.contextmanager
def headless_chromium(window: str = "1280,960"):
    """A Selenium driver of Debian's headless chromium (its console log kept), in a fresh profile removed after.

    The caller skips where ``shutil.which("chromium")``, ``which("chromedriver")`` or selenium are missing.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    profile = tempfile.mkdtemp(prefix="ganmetric-chromium-")
    for flag in CHROMIUM_FLAGS + (f"--window-size={window}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def montage_layout(rows: int, cols: int, cell: int, caption_lines: int = 1, title_lines: int = 1) -> tuple[int, int]:
    """(width, height) in pixels of an explore/action montage, written out from the layout README shows and
    ganmetric.axes.montage's constants (a 96 px label column, 2 px gaps, 13 px text lines, a 5 px title margin):
    not from the module's own size function, so that a change to the layout is seen."""
    from ganmetric.axes.montage import LABEL_W, LINE_H, PAD
    return (LABEL_W + cols * (cell + PAD) + PAD,
            5 + LINE_H * title_lines + rows * (cell + caption_lines * LINE_H + PAD) + PAD)
