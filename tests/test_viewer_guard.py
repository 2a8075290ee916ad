"""Which requests the viewer answers: Host naming its address (DNS rebinding refused), its own page as origin,
JSON bodies only (a cross-origin text/plain POST refused); each refusal is one JSON line, before any work."""
from __future__ import annotations

import json

import pytest

import ganmetric
from ganmetric.axes import export_axes
from ganmetric.viewer import Viewer, create_app
from ganmetric.viewer.guard import Address, refusal
from helpers import TinyConvGenerator

pytest.importorskip("fastapi", reason="the viewer extra is not installed (pip install -e \".[test]\")")
try:
    from fastapi.testclient import TestClient
except (ImportError, RuntimeError):
    pytest.skip("FastAPI's TestClient needs httpx2 or httpx (pip install -e \".[test]\")", allow_module_level=True)

PORT = 8765
RENDER = {"coefficients": [0.1, 0.0, 0.0]}


@pytest.mark.parametrize("host, port, header, ok", [
    ("127.0.0.1", 8765, "127.0.0.1:8765", True),
    ("127.0.0.1", 8765, "localhost:8765", True),
    ("127.0.0.1", 8765, "LOCALHOST:8765", True),
    ("127.0.0.1", 8765, "[::1]:8765", True),
    ("127.0.0.1", 8765, "127.0.0.1:8766", False),          # another port
    ("127.0.0.1", 8765, "127.0.0.1", False),               # no port: only for port 80
    ("127.0.0.1", 80, "localhost", True),
    ("127.0.0.1", 8765, "attacker.example:8765", False),   # DNS rebinding
    ("127.0.0.1", 8765, "attacker.example", False),
    ("127.0.0.1", 8765, "127.0.0.2:8765", False),
    ("127.0.0.1", 8765, "192.168.1.5:8765", False),
    ("127.0.0.1", 8765, "", False),
    ("127.0.0.1", 8765, "localhost:8765:1", False),
    ("127.0.0.1", 8765, "[::1", False),
    ("127.0.0.1", 8765, "::1:8765", False),
    ("127.0.0.1", None, "localhost:1234", True),           # an app made before its socket: any port
    ("127.0.0.1", None, "attacker.example:1234", False),
    ("::1", 9000, "[::1]:9000", True),
    ("myhost.lan", 8765, "myhost.lan:8765", True),         # the --host given
    ("myhost.lan", 8765, "otherhost.lan:8765", False),
    ("0.0.0.0", 8765, "192.168.1.5:8765", True),           # a wildcard address: any IP literal
    ("0.0.0.0", 8765, "[fe80::1]:8765", True),
    ("0.0.0.0", 8765, "attacker.example:8765", False),
])
def test_host_must_name_the_bound_address(host, port, header, ok):
    assert Address(host, port).accepts(header) is ok


def _headers(**extra):
    return {"host": "127.0.0.1:8765", **{k.replace("_", "-"): v for k, v in extra.items()}}


@pytest.mark.parametrize("method, headers, expected", [
    ("GET", _headers(), None),
    ("POST", _headers(content_type="application/json"), None),
    ("POST", _headers(content_type="application/json; charset=UTF-8"), None),
    ("POST", _headers(content_type="application/json", origin="http://127.0.0.1:8765"), None),
    ("GET", _headers(sec_fetch_site="same-origin"), None),
    ("GET", _headers(sec_fetch_site="none"), None),                           # an address the user typed
    ("GET", {"host": "attacker.example:8765"}, (400, "host")),
    ("GET", {}, (400, "host")),
    ("POST", _headers(content_type="text/plain"), (415, "content-type")),     # a cross-origin "simple" POST
    ("POST", _headers(content_type="application/x-www-form-urlencoded"), (415, "content-type")),
    ("POST", _headers(content_type="multipart/form-data; boundary=x"), (415, "content-type")),
    ("POST", _headers(content_type="application/json; charset=latin-1"), (415, "content-type")),
    ("POST", _headers(), (415, "content-type")),
    ("POST", _headers(content_type="application/json", origin="http://attacker.example"), (403, "origin")),
    ("POST", _headers(content_type="application/json", origin="null"), (403, "origin")),
    ("POST", _headers(content_type="application/json", origin="http://localhost:8765"), (403, "origin")),
    ("GET", _headers(sec_fetch_site="cross-site"), (403, "sec-fetch-site")),  # <img src=...> on another site
    ("GET", _headers(sec_fetch_site="same-site"), (403, "sec-fetch-site")),   # another local server's page
])
def test_refusal(method, headers, expected):
    got = refusal(method, headers, Address("127.0.0.1", 8765))
    assert (got if got is None else (got[0], got[2])) == expected
    if got is not None:
        assert "\n" not in got[1] and len(got[1]) < 300


def test_refusal_messages_echo_at_most_60_characters():
    status, message, field = refusal("GET", {"host": "a" * 100_000 + ".example"}, Address("127.0.0.1", 8765))
    assert status == 400 and "a" * 60 + "..." in message and len(message) < 300
    assert "127.0.0.1:8765" in message and "localhost:8765" in message  # what is accepted


@pytest.fixture(scope="module")
def app_and_client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("viewer_guard")
    G = TinyConvGenerator(n=8, res=16)
    D = ganmetric.load_distance("mse")
    ganmetric.metric_tensor(G, D, G.sample(1, seed=0), method="bp").save(folder / "tiny.npz")
    app = create_app(Viewer(G, export_axes(folder / "tiny.npz", top=3), D), port=PORT)
    return app, TestClient(app, base_url=f"http://127.0.0.1:{PORT}")


def _refused(r, status, field):
    assert r.status_code == status, r.text
    body = r.json()
    assert body["field"] == field and "\n" not in body["error"] and "Traceback" not in r.text
    return body["error"]


def test_the_page_own_requests_pass(app_and_client):
    app, client = app_and_client
    assert client.get("/").status_code == 200
    assert client.get("/api/info", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    r = client.post("/api/render", json=RENDER, headers={"Origin": f"http://127.0.0.1:{PORT}"})
    assert r.status_code == 200 and r.json()["image"]
    other = TestClient(app, base_url=f"http://localhost:{PORT}")  # the same server by its other loopback name
    assert other.post("/api/render", json=RENDER, headers={"Origin": f"http://localhost:{PORT}"}).status_code == 200


@pytest.mark.parametrize("path", ["/", "/api/info", "/api/strip?axis=0", "/static/app.js"])
def test_dns_rebinding_is_refused_before_any_work(app_and_client, path):
    app, client = app_and_client
    before = dict(app.state.work.counts)
    r = client.get(path, headers={"Host": "attacker.example"})
    assert "attacker.example" in _refused(r, 400, "host")
    assert dict(app.state.work.counts) == before  # nothing ran


def test_a_cross_origin_text_plain_post_is_refused_before_any_work(app_and_client):
    app, client = app_and_client
    before = dict(app.state.work.counts)
    body = json.dumps(RENDER)
    # what a form or fetch(..., {mode: "no-cors"}) on another site sends without asking first
    r = client.post("/api/render", content=body, headers={"Content-Type": "text/plain;charset=UTF-8",
                                                          "Origin": "http://attacker.example"})
    _refused(r, 403, "origin")
    r = client.post("/api/render", content=body, headers={"Content-Type": "text/plain;charset=UTF-8"})
    assert "application/json" in _refused(r, 415, "content-type")
    r = client.post("/api/code", content=body, headers={"Content-Type": "application/json",
                                                        "Origin": "http://attacker.example"})
    _refused(r, 403, "origin")
    _refused(client.get("/api/strip?axis=0", headers={"Sec-Fetch-Site": "cross-site"}), 403, "sec-fetch-site")
    assert dict(app.state.work.counts) == before
