"""The viewer's JSON API through FastAPI's TestClient: info, renders against in-process renders, the sphere,
the strip, the code download, static files, and every bad request answered 4xx with one JSON line."""
from __future__ import annotations

import base64
import io
import json
import math
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import ganmetric
from ganmetric.axes import apply_axis, export_axes, load_axes
from ganmetric.axes.montage import LABEL_W, LINE_H, PAD, _title_height
from ganmetric.plotting import to_uint8
from ganmetric.viewer import MissingExtra, Viewer, create_app
from ganmetric.viewer.protocol import MAX_BODY, MAX_SEED
from helpers import TinyConvGenerator

pytest.importorskip("fastapi", reason="the viewer extra is not installed (pip install -e \".[test]\")")
try:
    from fastapi.testclient import TestClient
except (ImportError, RuntimeError):  # starlette's TestClient needs httpx2 (or httpx): the test extra has them
    pytest.skip("FastAPI's TestClient needs httpx2 or httpx (pip install -e \".[test]\")", allow_module_level=True)

N, K, RES = 8, 4, 16
PORT = 8765  # the app's port: requests must name 127.0.0.1:8765 (or localhost, [::1]) in Host
BASE = f"http://127.0.0.1:{PORT}"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny conv generator, mse, and its real metric's top-4 axes at seed 0 (from an axis file)."""
    folder = tmp_path_factory.mktemp("viewer")
    G = TinyConvGenerator(n=N, res=RES)
    D = ganmetric.load_distance("mse")
    res = ganmetric.metric_tensor(G, D, G.sample(1, seed=0), method="bp")  # full H; no vmap warm-up (2 s)
    res.save(folder / "tiny.npz")
    axes = load_axes(export_axes(folder / "tiny.npz", top=K, out=folder / "axes.npz").path)
    viewer = Viewer(G, axes, D, d_max=0.05)
    return G, D, axes, viewer, TestClient(create_app(viewer, port=PORT), base_url=BASE)


def _pixels(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB"), dtype=np.int16)


def _in_process(G, z) -> np.ndarray:
    """G(z) rendered here, in the package's one rounding rule, (H, W, 3)."""
    with torch.no_grad():
        x = G(torch.as_tensor(np.asarray(z, dtype=np.float64)[None]).float())
    return to_uint8(x)[0].astype(np.int16)


def _source(axes) -> np.ndarray:
    return axes.points[0]


def test_info_reports_the_model_axes_and_calibrated_ranges(setup):
    G, D, axes, viewer, client = setup
    r = client.get("/api/info")
    assert r.status_code == 200
    info = r.json()
    assert info["model"] == "tiny-conv" and info["latent_dim"] == N and info["axes"] == K
    assert info["distance"] == "mse" and info["source"] == "axes.npz" and info["image_size"] == [RES, RES]
    np.testing.assert_allclose(info["eigvals"], axes.eigvals, rtol=1e-15)
    # t_max = sqrt(2 d_max / lambda): the metric predicts d = d_max at every slider's end
    np.testing.assert_allclose(info["ranges"], np.sqrt(2 * 0.05 / axes.eigvals), rtol=1e-12)
    np.testing.assert_allclose(0.5 * axes.eigvals * np.asarray(info["ranges"]) ** 2, 0.05, rtol=1e-12)
    assert info["reference"]["label"] == "the axes' source point"
    assert info["reference"]["norm"] == pytest.approx(np.linalg.norm(_source(axes)), rel=1e-12)


def test_info_ranges_on_the_sphere_and_capped(setup):
    G, D, axes, viewer, client = setup
    info = client.get("/api/info", params={"d_max": "0.01", "sphere": "true", "seed": "3"}).json()
    radius = float(torch.linalg.vector_norm(G.sample(1, seed=3).double()))
    assert info["reference"] == {"seed": 3, "label": "seed 3", "norm": pytest.approx(radius, rel=1e-12)}
    np.testing.assert_allclose(info["ranges"], np.minimum(np.sqrt(2 * 0.01 / axes.eigvals) / radius, math.pi),
                               rtol=1e-12)
    huge = client.get("/api/info", params={"d_max": "1e9"}).json()
    assert huge["ranges"] == [pytest.approx(2 * math.sqrt(N))] * K  # capped at the calibration's bound
    assert client.get("/api/info", params={"d_max": "1e9", "sphere": "1"}).json()["ranges"] == \
        [pytest.approx(math.pi)] * K


def test_render_equals_the_in_process_render(setup):
    G, D, axes, viewer, client = setup
    c = [0.4, -0.3, 0.2, 0.7]
    r = client.post("/api/render", json={"coefficients": c, "with_reference": True})
    assert r.status_code == 200, r.text
    out = r.json()
    z0 = _source(axes)
    z = z0 + np.asarray(c) @ axes.axes  # G(z0 + sum_i c_i u_i)
    assert np.abs(_pixels(out["image"]) - _in_process(G, z)).max() <= 1  # one level: float sums may round apart
    assert np.abs(_pixels(out["reference_image"]) - _in_process(G, z0)).max() <= 1
    with torch.no_grad():
        d = float(D(G(torch.as_tensor(z0[None]).float()), G(torch.as_tensor(z[None]).float())))
    assert out["distance"] == pytest.approx(d, rel=1e-5)
    assert out["norm"] == pytest.approx(np.linalg.norm(z), rel=1e-12)
    assert _pixels(out["image"]).shape == (RES, RES, 3)


def test_render_from_a_seed_and_from_a_code(setup):
    G, D, axes, viewer, client = setup
    c = np.array([0.0, 0.5, 0.0, -0.25])
    z0 = G.sample(1, seed=7).double().numpy()[0]
    by_seed = client.post("/api/render", json={"seed": 7, "coefficients": c.tolist()}).json()
    assert by_seed["reference"]["label"] == "seed 7" and by_seed["reference_image"] is None
    assert np.abs(_pixels(by_seed["image"]) - _in_process(G, z0 + c @ axes.axes)).max() <= 1
    code = np.linspace(-1, 1, N)
    by_code = client.post("/api/render", json={"z0": code.tolist(), "coefficients": c.tolist()}).json()
    assert np.abs(_pixels(by_code["image"]) - _in_process(G, code + c @ axes.axes)).max() <= 1


def test_sphere_rotates_toward_each_axis_in_turn_keeping_the_norm(setup):
    G, D, axes, viewer, client = setup
    z0 = _source(axes)
    out = client.post("/api/render", json={"coefficients": [0.3, 0.0, -0.2, 0.0], "sphere": True}).json()
    expected = apply_axis(apply_axis(z0, axes, 0, 0.3, sphere=True), axes, 2, -0.2, sphere=True)
    assert np.abs(_pixels(out["image"]) - _in_process(G, expected)).max() <= 1
    assert out["norm"] == pytest.approx(np.linalg.norm(z0), rel=1e-12)
    # one axis: the code turns by exactly the angle given, in the plane of z0 and the axis
    one = np.load(io.BytesIO(client.post("/api/code", json={"coefficients": [0, 0.25, 0, 0], "sphere": True}).content))
    cos = one @ z0 / (np.linalg.norm(one) * np.linalg.norm(z0))
    assert math.acos(min(cos, 1.0)) == pytest.approx(0.25, abs=1e-9)
    assert np.linalg.matrix_rank(np.stack([z0, axes.axes[1], one]), tol=1e-8) == 2


def test_code_download_is_the_rendered_code(setup):
    G, D, axes, viewer, client = setup
    c = [0.1, 0.2, -0.3, 0.4]
    r = client.post("/api/code", json={"seed": 2, "coefficients": c})
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    code = np.load(io.BytesIO(r.content), allow_pickle=False)
    z0 = G.sample(1, seed=2).double().numpy()[0]
    np.testing.assert_allclose(code, z0 + np.asarray(c) @ axes.axes, rtol=0, atol=1e-12)


def test_strip_spans_the_slider_range_around_the_reference(setup):
    G, D, axes, viewer, client = setup
    r = client.get("/api/strip", params={"axis": "1", "steps": "5", "scale": "2"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    strip = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"), dtype=np.int16)
    cell = RES * 2
    rows_height = cell + LINE_H + PAD  # one row, one caption line
    title_lines = [n for n in range(1, 6) if _title_height(n) + rows_height + PAD == strip.shape[0]]
    assert len(title_lines) == 1 and strip.shape[1] == LABEL_W + 5 * (cell + PAD) + PAD
    top = _title_height(title_lines[0])
    t_max = math.sqrt(2 * 0.05 / axes.eigvals[1])
    z0 = _source(axes)
    for col, t in ((0, -t_max), (2, 0.0), (4, t_max)):
        x = LABEL_W + PAD + col * (cell + PAD)
        tile = strip[top:top + cell:2, x:x + cell:2]  # undo the nearest-neighbour upscaling
        assert np.abs(tile - _in_process(G, z0 + t * axes.axes[1])).max() <= 1, col


def test_page_and_static_files_are_served_from_the_package(setup):
    client = setup[-1]
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/static/app.js" in page.text and "/static/style.css" in page.text
    for name, kind in (("app.js", "text/javascript"), ("style.css", "text/css")):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind)
        assert "http://" not in r.text and "https://" not in r.text  # no CDN: the page works offline
    assert "http://" not in page.text and "https://" not in page.text
    for name in ("%2e%2e%2fsetup.cfg", "..%2F..%2Fsetup.cfg", "state.py", "%2Fetc%2Fpasswd"):
        r = client.get(f"/static/{name}")
        assert r.status_code == 404 and "error" in r.json(), name


def _post(client, body: bytes):
    return client.post("/api/render", content=body, headers={"Content-Type": "application/json"})


BAD_RENDERS = [
    (b'{"coefficients": [NaN, 0, 0, 0]}', "body"),
    (b'{"coefficients": [Infinity, 0, 0, 0]}', "body"),
    (b'{"coefficients": [0, 0, 0]}', "coefficients"),
    (b'{"coefficients": [0, 0, 0, 0, 0]}', "coefficients"),
    (b'{"coefficients": "0,0,0,0"}', "coefficients"),
    (b'{"coefficients": [0, "1", 0, 0]}', "coefficients"),
    (b'{"coefficients": [0, true, 0, 0]}', "coefficients"),
    (b'{"coefficients": [0, null, 0, 0]}', "coefficients"),
    (b'{"coefficients": [1e308, 0, 0, 0]}', "coefficients"),
    (b'{"coefficients": [1' + b"0" * 400 + b', 0, 0, 0]}', "coefficients"),
    (b'{"seed": 1}', "coefficients"),
    (b'{"coefficients": [0, 0, 0, 0], "colour": 1}', "colour"),
    (b'{"coefficients": [0, 0, 0, 0], "seed": -1}', "seed"),
    (b'{"coefficients": [0, 0, 0, 0], "seed": %d}' % (MAX_SEED + 1), "seed"),
    (b'{"coefficients": [0, 0, 0, 0], "seed": 1.5}', "seed"),
    (b'{"coefficients": [0, 0, 0, 0], "seed": "3"}', "seed"),
    (b'{"coefficients": [0, 0, 0, 0], "seed": 3, "z0": [0, 0, 0, 0, 0, 0, 0, 1]}', "z0"),
    (b'{"coefficients": [0, 0, 0, 0], "z0": [1, 2]}', "z0"),
    (b'{"coefficients": [0, 0, 0, 0], "z0": [1, 2, 3, 4, 5, 6, 7, 1e9]}', "z0"),
    (b'{"coefficients": [0, 0, 0, 0], "sphere": "yes"}', "sphere"),
    (b'{"coefficients": [0, 0, 0, 0], "with_reference": 1}', "with_reference"),
    (b'{"coefficients": [0.1, 0, 0, 0], "z0": [0, 0, 0, 0, 0, 0, 0, 0], "sphere": true}', "z0"),
    (b'{"coefficients": [0, 0, 0', "body"),
    (b"", "body"),
    (b"[0, 0, 0, 0]", "body"),
    (b"\xff\xfe", "body"),
]


def _one_line_error(r, status=400, field="unset"):
    assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body["error"], str) and body["error"] and "\n" not in body["error"]
    assert "Traceback" not in r.text
    if field != "unset":
        assert body["field"] == field, body
    return body["error"]


@pytest.mark.parametrize("body, field", BAD_RENDERS, ids=[str(i) for i in range(len(BAD_RENDERS))])
def test_bad_render_requests_get_400_naming_the_field(setup, body, field):
    client = setup[-1]
    _one_line_error(_post(client, body), 400, field)
    _one_line_error(client.post("/api/code", content=body, headers={"Content-Type": "application/json"}), 400, field)


def test_bad_render_messages_say_what_was_expected(setup):
    client = setup[-1]
    assert "must hold 4 numbers, got 3" in _one_line_error(_post(client, b'{"coefficients": [0, 0, 0]}'))
    assert "NaN" in _one_line_error(_post(client, b'{"coefficients": [NaN, 0, 0, 0]}'))
    assert "zero vector" in _one_line_error(_post(
        client, b'{"coefficients": [0.1, 0, 0, 0], "z0": [0, 0, 0, 0, 0, 0, 0, 0], "sphere": true}'))


@pytest.mark.parametrize("body, message", [
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"coefficients": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    (b'{"coefficients": [1' + b"0" * 5000 + b', 0, 0, 0]}', "too many digits"),
    (b'{"coefficients": [0, 0, 0, 0], "seed": ' + b"9" * 4301 + b"}", "too many digits"),
], ids=["array-100000-deep", "field-100000-deep", "int-5001-digits", "seed-4301-digits"])
def test_bodies_the_json_parser_cannot_hold_get_400(setup, body, message):
    """Not a 500 with a traceback: TestClient re-raises any exception that reaches the server's error handler."""
    assert message in _one_line_error(_post(setup[-1], body), 400, "body")


@pytest.mark.parametrize("body, field", [
    (b'{"coefficients": [0, 0, 0, 0], "seed": "' + b"x" * 1_000_000 + b'"}', "seed"),
    (b'{"coefficients": [0, 0, 0, 0], "seed": ' + b"9" * 4000 + b"}", "seed"),
    (b'{"coefficients": [0, 0, 0, 0], "' + b"k" * 500_000 + b'": 1}', "k" * 60 + "..."),
])
def test_echoed_input_is_cut_to_60_characters(setup, body, field):
    r = _post(setup[-1], body)
    message = _one_line_error(r, 400, field)
    assert len(r.content) < 500 and len(message) < 200, message
    assert "x" * 61 not in message and "9" * 61 not in message and "k" * 61 not in message


def test_long_query_values_are_not_echoed(setup):
    client = setup[-1]
    for params, field in (({"seed": "7" * 10_000}, "seed"), ({"d_max": "1" * 5000}, "d_max"),
                          ({"sphere": "y" * 10_000}, "sphere")):
        r = client.get("/api/info", params=params)
        assert len(_one_line_error(r, 400, field)) < 200 and len(r.content) < 500


def test_a_body_over_the_limit_gets_413(setup):
    client = setup[-1]
    _one_line_error(_post(client, b" " * (MAX_BODY + 1)), 413, "body")


@pytest.mark.parametrize("path, params, field", [
    ("/api/info", {"d_max": "nan"}, "d_max"),
    ("/api/info", {"d_max": "-1"}, "d_max"),
    ("/api/info", {"d_max": "0"}, "d_max"),
    ("/api/info", {"d_max": "abc"}, "d_max"),
    ("/api/info", {"seed": "-2"}, "seed"),
    ("/api/info", {"seed": "1.5"}, "seed"),
    ("/api/info", {"sphere": "maybe"}, "sphere"),
    ("/api/info", {"zoom": "2"}, "zoom"),
    ("/api/strip", {}, "axis"),
    ("/api/strip", {"axis": "4"}, "axis"),
    ("/api/strip", {"axis": "-1"}, "axis"),
    ("/api/strip", {"axis": "x"}, "axis"),
    ("/api/strip", {"axis": "0", "steps": "4"}, "steps"),
    ("/api/strip", {"axis": "0", "steps": "101"}, "steps"),
    ("/api/strip", {"axis": "0", "scale": "100"}, "scale"),
    ("/api/strip", {"axis": "0", "scale": "0"}, "scale"),
    ("/api/strip", {"axis": "0", "d_max": "inf"}, "d_max"),
])
def test_bad_queries_get_400_naming_the_parameter(setup, path, params, field):
    _one_line_error(setup[-1].get(path, params=params), 400, field)


def test_wrong_methods_and_paths_get_json_4xx(setup):
    client = setup[-1]
    _one_line_error(client.get("/api/render"), 405)
    _one_line_error(client.get("/api/nothing"), 404)
    _one_line_error(client.put("/api/info", json={}), 405)


def test_create_app_without_the_extra_says_how_to_install_it(setup, monkeypatch):
    monkeypatch.setitem(sys.modules, "fastapi", None)  # an import of fastapi now fails, as when it is absent
    with pytest.raises(MissingExtra, match=r'pip install "ganmetric\[viewer\]"'):
        create_app(setup[3])


def test_viewer_refuses_axes_of_another_latent_size_and_a_distance_of_another_dtype(setup):
    G, D, axes, viewer, client = setup
    with pytest.raises(ganmetric.InputError, match="latent size"):
        Viewer(TinyConvGenerator(n=N + 1, res=RES), axes, D)
    with pytest.raises(ganmetric.InputError, match="d_max"):
        Viewer(G, axes, D, d_max=float("nan"))
    with pytest.raises(ganmetric.InputError, match="same dtype"):
        Viewer(G, axes, ganmetric.load_distance("lpips-alex", lpips_backbone="random", dtype="float64"))


def test_info_json_is_strict(setup):
    text = setup[-1].get("/api/info").text
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))
