"""``ganmetric view`` in a real browser: the command runs as a subprocess, headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium) opens the page, a slider is dragged, and the image the browser shows is read
back and compared with the same code rendered here; no JavaScript error may be logged.

Skipped where chromium, chromedriver or selenium are missing (``.ci/run`` installs them).
"""
from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

import ganmetric
from ganmetric.axes import apply_axis, export_axes, load_axes
from ganmetric.plotting import to_uint8
from helpers import headless_chromium, subprocess_env
from ganmetric.viewer import DEFAULT_D_MAX

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip("the browser test needs Debian's chromium and chromium-driver (apt-get install chromium "
                "chromium-driver; .ci/run installs them)", allow_module_level=True)
pytest.importorskip("selenium", reason="the browser test needs selenium (pip install -e \".[test]\")")
pytest.importorskip("fastapi", reason="ganmetric view needs the viewer extra (pip install -e \".[test]\")")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow, pytest.mark.pretrained("dcgan-face")]

TOP = 8


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """dcgan-face (float32, as the server loads it), mse, and the axes of its real metric at seed 0."""
    folder = tmp_path_factory.mktemp("viewer_browser")
    G = ganmetric.load_generator("dcgan-face")
    D = ganmetric.load_distance("mse")
    ganmetric.metric_tensor(G, D, G.sample(1, seed=0)).save(folder / "face.npz")
    axes = load_axes(export_axes(folder / "face.npz", top=TOP, out=folder / "axes.npz").path)
    return G, D, axes


@pytest.fixture(scope="module")
def server(model):
    """``ganmetric view --axes axes.npz --port 0`` as a subprocess; yields the address it prints."""
    axes = model[2]
    proc = subprocess.Popen([sys.executable, "-m", "ganmetric_cli.main", "view", "--axes", str(axes.path),
                             "--port", "0"], env=subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    url = None
    while url is None and time.monotonic() < deadline and proc.poll() is None:
        found = [m for m in (re.search(r"serving (http://\S+)", line) for line in list(lines)) if m]
        url = found[0].group(1) if found else None
        time.sleep(0.1)
    try:
        assert url is not None, "ganmetric view did not start:\n" + "".join(lines)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert "Traceback" not in "".join(lines), "".join(lines)


@pytest.fixture(scope="module")
def browser():
    with headless_chromium() as driver:
        yield driver


SHOWN = """
const img = document.getElementById(arguments[0]);
if (!img.complete || img.naturalWidth === 0) return null;
const canvas = document.createElement("canvas");
canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
const ctx = canvas.getContext("2d");
ctx.drawImage(img, 0, 0);
const rgba = Array.from(ctx.getImageData(0, 0, canvas.width, canvas.height).data);
return {width: canvas.width, height: canvas.height, rgba: rgba, data: Object.assign({}, img.dataset)};
"""


def _shown(driver, element_id: str):
    """The pixels (H, W, 3) of an image on the page as the browser decoded them, and its data attributes."""
    got = driver.execute_script(SHOWN, element_id)
    if got is None:
        return None, None
    rgba = np.asarray(got["rgba"], dtype=np.int16).reshape(got["height"], got["width"], 4)
    return rgba[..., :3], got["data"]


def _render_here(G, z) -> np.ndarray:
    with torch.no_grad():
        return to_uint8(G(torch.as_tensor(np.asarray(z)[None]).float()))[0].astype(np.int16)


def _settled(driver):
    """The current image's data attributes once it shows every slider's present position (else None)."""
    data = driver.execute_script("return Object.assign({}, document.getElementById('current').dataset)")
    values = driver.execute_script("return Array.from(document.querySelectorAll('#sliders input[type=range]'), "
                                   "(s) => Number(s.value))")
    return data if "positions" in data and json.loads(data["positions"]) == values else None


def _severe(driver) -> list:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_dragging_a_slider_shows_the_servers_render_of_z0_plus_t_u(server, browser, model, tmp_path):
    G, D, axes = model
    browser.get(server)
    browser.execute_script("console.error('probe: the log is read')")  # the error log below is live
    assert any("probe: the log is read" in e["message"] for e in _severe(browser))
    wait = WebDriverWait(browser, 60, poll_frequency=0.1)
    wait.until(lambda d: _shown(d, "current")[0] is not None and _shown(d, "reference")[0] is not None)
    z0 = axes.points[0]  # the default reference: the axes' source point
    before, _ = _shown(browser, "current")
    assert np.abs(before - _render_here(G, z0)).max() <= 1
    assert np.abs(_shown(browser, "reference")[0] - _render_here(G, z0)).max() <= 1

    slider = browser.find_element(By.ID, "axis-0")
    ActionChains(browser).click_and_hold(slider).move_by_offset(110, 0).release().perform()  # a real mouse drag
    pixels, data = wait.until(lambda d: _shown(d, "current") if _settled(d) else None)
    position = int(slider.get_attribute("value"))
    t_max = math.sqrt(2 * DEFAULT_D_MAX / axes.eigvals[0])  # calibrated: d_max at the slider's end
    c = np.asarray(json.loads(data["coefficients"]))
    assert c[0] == pytest.approx(position / 1000 * t_max, rel=1e-12) and not c[1:].any() and position > 0
    z = z0 + c @ axes.axes
    assert np.abs(pixels - _render_here(G, z)).max() <= 1  # what the browser shows is G(z0 + c u_0)
    assert np.abs(pixels - before).max() > 20  # and the image did change
    with torch.no_grad():
        d = float(D(G(torch.as_tensor(z0[None]).float()), G(torch.as_tensor(z[None]).float())))
    assert float(data["distance"]) == pytest.approx(d, rel=1e-5)
    shown_d = float(re.search(r"d = (\S+) from", browser.find_element(By.ID, "distance").text).group(1))
    assert shown_d == pytest.approx(d, rel=1e-3)
    strip, strip_data = wait.until(lambda d: _shown(d, "strip") if _shown(d, "strip")[1].get("axis") == "0"
                                   else None)
    assert strip.shape[1] > 7 * 64
    browser.save_screenshot(str(tmp_path / "viewer.png"))
    assert (tmp_path / "viewer.png").stat().st_size > 10_000
    assert _severe(browser) == []


def test_latest_wins_sphere_seed_and_downloads(server, browser, model, tmp_path):
    """Thirty slider positions sent at once give two renders (the first, then the latest); the sphere toggle and a
    seed typed in the box render what the library computes; the download buttons save that image and code."""
    G, D, axes = model
    wait = WebDriverWait(browser, 60, poll_frequency=0.1)
    renders = int(browser.execute_script("return document.getElementById('current').dataset.renders"))
    browser.execute_script("""
        const s = document.getElementById('axis-1');
        for (let k = 1; k <= 30; k++) { s.value = String(-20 * k); s.dispatchEvent(new Event('input')); }""")
    data = wait.until(lambda d: _settled(d))
    assert int(data["renders"]) == renders + 2
    assert json.loads(data["coefficients"])[1] == pytest.approx(-0.6 * math.sqrt(2 * DEFAULT_D_MAX / axes.eigvals[1]),
                                                                rel=1e-12)

    browser.find_element(By.ID, "sphere").click()
    _, data = wait.until(lambda d: _shown(d, "current") if _shown(d, "current")[1].get("sphere") == "true" and
                         _settled(d) else None)
    pixels, data = _shown(browser, "current")
    c = json.loads(data["coefficients"])
    z = apply_axis(apply_axis(axes.points[0], axes, 0, c[0], sphere=True), axes, 1, c[1], sphere=True)
    assert np.abs(pixels - _render_here(G, z)).max() <= 1

    box = browser.find_element(By.ID, "seed")
    box.send_keys("5", Keys.ENTER)
    wait.until(lambda d: "seed 5" in d.find_element(By.ID, "reference-label").text)
    reference, _ = wait.until(lambda d: _shown(d, "reference"))
    z0 = G.sample(1, seed=5).double().numpy()[0]
    assert np.abs(reference - _render_here(G, z0)).max() <= 1

    pixels, data = wait.until(lambda d: _shown(d, "current") if _settled(d) and d.find_element(
        By.ID, "current").get_attribute("data-seed") == "5" else None)
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    browser.find_element(By.ID, "download-image").click()
    browser.find_element(By.ID, "download-code").click()
    png, npy = tmp_path / "view_seed5.png", tmp_path / "view_seed5.npy"
    wait.until(lambda d: png.is_file() and npy.is_file())
    c = json.loads(data["coefficients"])
    z = apply_axis(apply_axis(z0, axes, 0, c[0], sphere=True), axes, 1, c[1], sphere=True)
    np.testing.assert_allclose(np.load(npy, allow_pickle=False), z, rtol=0, atol=1e-12)
    saved = np.asarray(Image.open(png).convert("RGB"), dtype=np.int16)
    assert np.abs(saved - pixels).max() == 0 and np.abs(saved - _render_here(G, z)).max() <= 1
    assert _severe(browser) == []
