"""The viewer's work queue: one call at a time in arrival order, nothing run for a client that has gone, a page's
newer strip replacing its waiting one; then the same through a real uvicorn server and real sockets (20 strip
requests sent and abandoned cost no strip, and the next render is answered)."""
from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import socket
import threading
import time

import pytest

import ganmetric
from ganmetric.axes import export_axes
from ganmetric.viewer import Viewer, bind_socket, create_app
from ganmetric.viewer.work import ClientGone, Superseded, WorkQueue
from helpers import TinyConvGenerator

pytest.importorskip("fastapi", reason="the viewer extra is not installed (pip install -e \".[test]\")")
uvicorn = pytest.importorskip("uvicorn", reason="the viewer extra is not installed (pip install -e \".[test]\")")


class FakeRequest:
    """A request whose client is gone or not (what WorkQueue reads of Starlette's Request)."""

    def __init__(self, gone: bool = False):
        self.gone = gone

    async def is_disconnected(self) -> bool:
        return self.gone


class Recorder:
    """A blocking call that records its calls and the most calls that ever ran at once."""

    def __init__(self):
        self.calls, self.running, self.most = [], 0, 0
        self.lock = threading.Lock()

    def __call__(self, name, pause=0.01):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(pause)
        with self.lock:
            self.running -= 1
            self.calls.append(name)
        return name


def test_calls_run_one_at_a_time_in_arrival_order():
    queue, rec = WorkQueue(), Recorder()

    async def main():
        return await asyncio.gather(*(queue.run(FakeRequest(), rec, i) for i in range(8)))

    assert asyncio.run(main()) == list(range(8))
    assert rec.calls == list(range(8)) and rec.most == 1
    assert queue.counts == {"run": 8}


def test_work_of_clients_that_have_gone_is_skipped():
    queue, rec = WorkQueue(), Recorder()

    async def main():
        jobs = [queue.run(FakeRequest(gone=i % 3 != 0), rec, i) for i in range(12)]
        return await asyncio.gather(*jobs, return_exceptions=True)

    out = asyncio.run(main())
    assert rec.calls == [0, 3, 6, 9]  # only the connected clients' calls ran
    assert all(isinstance(out[i], ClientGone) for i in range(12) if i % 3 != 0)
    assert queue.counts == {"run": 4, "gone": 8}


def test_a_newer_request_with_the_same_key_replaces_the_waiting_one():
    queue, rec = WorkQueue(), Recorder()

    async def main():
        first = asyncio.ensure_future(queue.run(FakeRequest(), rec, "blocker", 0.2))
        await asyncio.sleep(0.05)  # the blocker runs; everything below waits
        waiting = [asyncio.ensure_future(queue.run(FakeRequest(), rec, f"a{i}", key="a")) for i in range(5)]
        other = asyncio.ensure_future(queue.run(FakeRequest(), rec, "b0", key="b"))
        return await asyncio.gather(first, *waiting, other, return_exceptions=True)

    out = asyncio.run(main())
    assert [type(x) for x in out[1:5]] == [Superseded] * 4 and out[5] == "a4" and out[6] == "b0"
    assert rec.calls == ["blocker", "a4", "b0"]
    assert queue.counts == {"run": 3, "superseded": 4}


def test_a_cancelled_waiter_does_not_stall_the_queue():
    queue, rec = WorkQueue(), Recorder()

    async def main():
        first = asyncio.ensure_future(queue.run(FakeRequest(), rec, "blocker", 0.1))
        await asyncio.sleep(0.02)
        doomed = asyncio.ensure_future(queue.run(FakeRequest(), rec, "doomed"))
        last = asyncio.ensure_future(queue.run(FakeRequest(), rec, "last"))
        await asyncio.sleep(0)
        doomed.cancel()
        return await asyncio.wait_for(asyncio.gather(first, last), timeout=30)

    assert asyncio.run(main()) == ["blocker", "last"] and rec.calls == ["blocker", "last"]


def test_an_error_of_the_call_reaches_its_request_and_the_queue_goes_on():
    queue = WorkQueue()

    def fail():
        raise ValueError("bad")

    async def main():
        return await asyncio.gather(queue.run(FakeRequest(), fail), queue.run(FakeRequest(), lambda: 2),
                                    return_exceptions=True)

    bad, good = asyncio.run(main())
    assert isinstance(bad, ValueError) and good == 2


# --- through a real server -------------------------------------------------------------------------------------

N, K, RES, PAGE = 8, 3, 16, "x-ganmetric-page"


@pytest.fixture(scope="module")
def viewer(tmp_path_factory):
    folder = tmp_path_factory.mktemp("viewer_work")
    G = TinyConvGenerator(n=N, res=RES)
    D = ganmetric.load_distance("mse")
    ganmetric.metric_tensor(G, D, G.sample(1, seed=0), method="bp").save(folder / "tiny.npz")
    return Viewer(G, export_axes(folder / "tiny.npz", top=K), D)


class HeldStrips:
    """Replaces viewer.strip: counts calls, and the first call waits until released (it holds the worker)."""

    def __init__(self, viewer):
        self.original, self.calls = viewer.strip, 0
        self.started, self.release = threading.Event(), threading.Event()

    def __call__(self, **kwargs):
        self.calls += 1
        if self.calls == 1:
            self.started.set()
            assert self.release.wait(60), "the test never released the first strip"
        return self.original(**kwargs)


@contextlib.contextmanager
def served(app, sock):
    """uvicorn on ``sock`` in a thread (its loggers left to pytest: log_config=None), stopped on exit."""
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def _wait(condition, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _strip_request(port: int, axis: int, page: str) -> bytes:
    return (f"GET /api/strip?axis={axis}&steps=15&scale=8 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"X-Ganmetric-Page: {page}\r\n\r\n").encode()


def _get(port, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path, headers=headers or {})
    r = conn.getresponse()
    out = r.status, r.read()
    conn.close()
    return out


@pytest.fixture
def held_server(viewer, monkeypatch):
    """A real server over ``viewer`` whose first strip holds the worker until released:
    yields (app, port, uvicorn server, HeldStrips)."""
    held = HeldStrips(viewer)
    monkeypatch.setattr(viewer, "strip", held)
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    app = create_app(viewer, port=port)
    with served(app, sock) as server:
        yield app, port, server, held
        held.release.set()


def test_abandoned_strips_cost_nothing_and_the_next_render_is_served(held_server):
    app, port, server, held = held_server
    first = threading.Thread(target=_get, args=(port, "/api/strip?axis=0", {PAGE: "keeper"}), daemon=True)
    first.start()
    assert held.started.wait(60), "the first strip did not start"
    # 20 heavy strips (15 cells, 8x scale), each from its own page, sent and abandoned at once
    for i in range(20):
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(_strip_request(port, i % K, f"page{i}"))
    _wait(lambda: len(server.server_state.connections) <= 1, "the server to see the 20 clients go")
    held.release.set()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/api/render", body=json.dumps({"coefficients": [0.1] * K}),
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    body = json.loads(r.read())
    conn.close()
    first.join(60)
    assert r.status == 200 and body["image"]
    assert held.calls == 1  # the held strip only: none of the 20 abandoned ones was drawn
    assert app.state.work.counts["gone"] == 20 and app.state.work.counts["run"] == 2


def test_a_page_keeps_at_most_one_strip_waiting(held_server):
    app, port, server, held = held_server
    results = {}

    def fetch(name, axis, page):
        results[name] = _get(port, f"/api/strip?axis={axis}", {PAGE: page})

    threads = [threading.Thread(target=fetch, args=("blocker", 0, "other"), daemon=True)]
    threads[0].start()
    assert held.started.wait(60)
    for i in range(3):  # one page asks for axis 0, then 1, then 2 while the blocker runs
        threads.append(threading.Thread(target=fetch, args=(f"p{i}", i, "p"), daemon=True))
        threads[-1].start()
        _wait(lambda: app.state.work.waiting == 1 and app.state.work.counts["superseded"] == i,
              f"strip p{i} to be queued")
    held.release.set()
    for t in threads:
        t.join(60)
    assert results["blocker"][0] == 200 and results["p2"][0] == 200
    for name in ("p0", "p1"):
        status, body = results[name]
        assert status == 409 and "newer strip request" in json.loads(body)["error"], (name, body)
    assert held.calls == 2 and app.state.work.counts == {"run": 2, "superseded": 2}
    assert results["p2"][1].startswith(b"\x89PNG\r\n\x1a\n")
