"""``ganmetric view`` from the command line: every bad input is one Error line before the server starts; a good
start prints the address and serves the app over the file's recorded model (uvicorn replaced by a stand-in)."""
from __future__ import annotations

import socket
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import ganmetric.viewer
from ganmetric.axes import export_axes
from helpers import one_error_line, save_with
from ganmetric_cli.main import main

pytest.importorskip("fastapi", reason="the viewer extra is not installed (pip install -e \".[test]\")")

N = 128  # stylegan2-demo's w: loads offline (seeded random weights)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A stylegan2-demo (w) result with a synthetic metric, and its top-5 axis file."""
    folder = tmp_path_factory.mktemp("view_cli")
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((N, N)))[0]
    vals = 0.3 * 0.8 ** np.arange(N)
    z = torch.randn(N, generator=torch.Generator().manual_seed(0), dtype=torch.float64).numpy()
    fake = SimpleNamespace(eigvals=vals, eigvecs=Q, z=z, H=(Q * vals) @ Q.T, residuals=None)
    result = save_with(folder / "demo.npz", fake, model="stylegan2-demo", latent_space="w", latent_dim=N,
                       distance="mse", distance_options={})
    axes = export_axes(result, top=5, out=folder / "axes.npz").path
    return SimpleNamespace(folder=folder, result=result, axes=axes)


def run(*args):
    return CliRunner().invoke(main, ["view", *[str(a) for a in args]])


@pytest.fixture
def no_serving(monkeypatch):
    """Replace uvicorn's loop: record what would be served and return at once."""
    served = {}

    def fake_serve(app, sock, *, open_browser=False, url=None):
        served.update(app=app, port=sock.getsockname()[1], url=url, open=open_browser)
        sock.close()
    monkeypatch.setattr(ganmetric.viewer, "serve", fake_serve)
    return served


def test_without_the_extra_one_line_says_how_to_install_it(files, monkeypatch):
    monkeypatch.setitem(sys.modules, "fastapi", None)  # as if FastAPI were not installed
    one_error_line(run("--axes", files.axes), 'pip install "ganmetric[viewer]"')


@pytest.mark.parametrize("args, match", [
    ((), "give the axes to show"),
    (("--axes", "AXES", "--hessian", "RESULT"), "one of them"),
    (("--axes", "AXES", "--top", "3"), "--top applies to --hessian"),
    (("--axes", "missing.npz"), "missing.npz"),
    (("--axes", "RESULT"), "ganmetric axes export"),  # a result file given as an axis file
    (("--hessian", "AXES"), "AXES_NAME"),
    (("--hessian", "RESULT", "--top", "500"), "--top"),
    (("--axes", "AXES", "--port", "70000"), "--port"),
    (("--axes", "AXES", "--host", "no-such-host.invalid"), "no-such-host.invalid"),
    (("--axes", "AXES", "--no-distance", "--distance", "mse"), "--no-distance"),
])
def test_bad_input_is_one_error_line(files, no_serving, args, match):
    names = {"AXES": files.axes, "RESULT": files.result}
    args = [names.get(a, a) for a in args]
    one_error_line(run(*args), match.replace("AXES_NAME", files.axes.name))
    assert not no_serving


def test_a_port_in_use_is_one_error_line_before_the_model_loads(files, no_serving, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the port was checked")
    monkeypatch.setattr("ganmetric_cli.view.load_recorded_generator", no_model)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        one_error_line(run("--axes", files.axes, "--port", port), f"127.0.0.1:{port} is already in use")


def test_a_model_that_does_not_match_the_file_is_refused(files, no_serving):
    one_error_line(run("--axes", files.axes, "--latent-space", "z", "--port", "0"), "latent space w there, z here")
    assert not no_serving


def test_start_prints_the_address_and_serves_the_recorded_model(files, no_serving):
    from fastapi.testclient import TestClient
    res = run("--hessian", files.result, "--top", "3", "--port", "0", "--d-max", "0.02")
    assert res.exit_code == 0, res.output
    port = no_serving["port"]
    assert f"serving http://127.0.0.1:{port}/" in res.output and "Warning" not in res.output
    assert "stylegan2-demo [w, n=128," in res.output and "3 axes from the result demo.npz" in res.output
    client = TestClient(no_serving["app"], base_url=f"http://127.0.0.1:{port}")
    info = client.get("/api/info").json()
    assert (info["model"], info["latent_space"], info["axes"], info["d_max"]) == ("stylegan2-demo", "w", 3, 0.02)
    assert info["distance"] == "mse" and info["source"] == "demo.npz"
    # the app knows its address: another port or name in Host is refused
    assert client.get("/api/info", headers={"Host": f"127.0.0.1:{port + 1}"}).status_code == 400
    assert client.get("/api/info", headers={"Host": f"attacker.example:{port}"}).status_code == 400

    res = run("--axes", files.axes, "--host", "0.0.0.0", "--port", "0", "--no-distance", "--open")
    assert res.exit_code == 0, res.output
    assert "Warning: listening on 0.0.0.0: anyone who can reach this port can drive the model" in res.output
    assert no_serving["open"] is True
    port = no_serving["port"]
    anywhere = TestClient(no_serving["app"], base_url=f"http://192.0.2.7:{port}")  # 0.0.0.0: any IP address
    assert anywhere.get("/api/info").json()["distance"] is None
    assert anywhere.get("/api/info", headers={"Host": f"attacker.example:{port}"}).status_code == 400
