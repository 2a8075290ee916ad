"""The viewer's HTTP app (FastAPI): the page, its static files and a JSON API over a :class:`Viewer`.

Routes:

- ``GET /``: the page; ``GET /static/{name}``: its script and style sheet, read from the
  package when the app is made (a fixed table: no path from a request reaches the file system).
- ``GET /api/info?d_max=&sphere=&seed=``: model, distance, eigenvalues, slider ranges.
- ``POST /api/render`` ``{"seed"|"z0", "coefficients", "sphere", "with_reference"}``: the
  image (base64 PNG), the distance from the reference, |z0| and |z|.
- ``POST /api/code``: the same body; the code as a ``.npy`` file.
- ``GET /api/strip?axis=&d_max=&sphere=&seed=&steps=&scale=``: the axis's explore row (PNG).

Before any route, :mod:`~ganmetric.viewer.guard` refuses requests addressed to another name
(Host), made by another site's page (Origin, Sec-Fetch-Site) or POSTing anything but JSON.
Bad requests get a 4xx JSON ``{"error": one line, "field": the request field or null}``, echoing
at most 60 characters of the request's own text. The generator runs on one worker thread
(:class:`~ganmetric.viewer.work.WorkQueue`): requests wait their turn, a request whose client
has gone is skipped, and a page's newer strip replaces its strip still waiting (409 for that one).
"""
from __future__ import annotations

import base64
import contextlib
from importlib import resources

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from ..errors import GanmetricError, InputError, first_line
from ..io import json_text
from . import protocol
from .guard import Address, RequestGuard
from .work import ClientGone, Superseded, WorkQueue

#: the package files the app serves, and their media types
STATIC = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "style.css": "text/css; charset=utf-8"}
#: the header the page sends with a random id per page load: each page keeps at most one strip waiting
PAGE_HEADER = "x-ganmetric-page"
#: the longest error message sent (a safety net: messages echo at most 60 characters of a request)
MAX_MESSAGE = 400


def _static_files() -> dict[str, bytes]:
    folder = resources.files("ganmetric.viewer") / "static"
    return {name: (folder / name).read_bytes() for name in STATIC}


def _json(obj, status: int = 200) -> Response:
    return Response(json_text(obj, indent=None), status_code=status, media_type="application/json")


def _error(status: int, message: str, field: str | None = None) -> Response:
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + "..."
    return _json({"error": message, "field": field}, status)


def _strip_key(request: Request) -> tuple:
    """Whose strip a request is: the client's address and the page's id (see :data:`PAGE_HEADER`)."""
    page = request.headers.get(PAGE_HEADER, "")[:64]
    return "strip", request.client.host if request.client else None, page


async def _body(request: Request) -> bytes:
    """The request body, refused past :data:`protocol.MAX_BODY` bytes before reading it all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > protocol.MAX_BODY:
        raise protocol.RequestTooLarge(f"the request body is {declared} bytes; at most {protocol.MAX_BODY} are "
                                       f"accepted", argument="body")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > protocol.MAX_BODY:
            raise protocol.RequestTooLarge(f"the request body is over {protocol.MAX_BODY} bytes", argument="body")
        chunks.append(chunk)
    return b"".join(chunks)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(InputError)
    async def bad_request(request, exc: InputError):
        status = 413 if isinstance(exc, protocol.RequestTooLarge) else 400
        return _error(status, first_line(exc), getattr(exc, "argument", None))

    @app.exception_handler(GanmetricError)
    async def refused(request, exc: GanmetricError):
        return _error(422, first_line(exc))

    @app.exception_handler(ClientGone)
    async def gone(request, exc: ClientGone):  # nobody reads it: the connection is closed
        return _error(499, "the client closed the connection before its turn")

    @app.exception_handler(Superseded)
    async def superseded(request, exc: Superseded):
        return _error(409, "a newer strip request from this page replaced this one before its turn")

    @app.exception_handler(HTTPException)
    async def http_error(request, exc: HTTPException):
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def internal(request, exc: Exception):  # the server's log keeps the traceback; the client gets one line
        return _error(500, f"internal error: {first_line(exc)}")


def create_app(viewer, *, host: str = "127.0.0.1", port: int | None = None) -> FastAPI:
    """The viewer's FastAPI app over ``viewer`` (a :class:`~ganmetric.viewer.Viewer`).

    Args:
        viewer: the model side.
        host: the address the server listens on (``--host``): requests must name it, or this machine's
            loopback names, in their Host header.
        port: the port it listens on; None accepts any port in Host (an app made before its socket).
    """
    files = _static_files()
    queue = WorkQueue()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        queue.shutdown()

    app = FastAPI(title="ganmetric view", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.work = queue
    app.add_middleware(RequestGuard, address=Address(host, port))
    _install_error_handlers(app)

    @app.get("/")
    async def page():
        return Response(files["index.html"], media_type=STATIC["index.html"])

    @app.get("/static/{name}")
    async def static(name: str):
        if name not in STATIC:
            return _error(404, f"no static file {protocol.shown(name)}")
        return Response(files[name], media_type=STATIC[name], headers={"Cache-Control": "no-cache"})

    @app.get("/api/info")
    async def info(request: Request):
        query = protocol.info_query(dict(request.query_params))
        return _json(await queue.run(request, viewer.info, **query))

    @app.post("/api/render")
    async def render(request: Request):
        req = viewer.render_request(protocol.parse_body(await _body(request)))
        out = await queue.run(request, viewer.render, req)
        ref = None if out.reference_png is None else base64.b64encode(out.reference_png).decode("ascii")
        return _json({"image": base64.b64encode(out.png).decode("ascii"), "reference_image": ref,
                      "distance": out.distance, "norm": float(np.linalg.norm(out.code)),
                      "reference": {"seed": req.seed, "label": out.reference_label, "norm": out.reference_norm},
                      "coefficients": req.coefficients, "sphere": req.sphere})

    @app.post("/api/code")
    async def code(request: Request):
        req = viewer.render_request(protocol.parse_body(await _body(request)))
        data = await queue.run(request, viewer.code_npy, req)
        return Response(data, media_type="application/octet-stream",
                        headers={"Content-Disposition": 'attachment; filename="code.npy"'})

    @app.get("/api/strip")
    async def strip(request: Request):
        query = protocol.strip_query(dict(request.query_params), n_axes=viewer.n_axes)
        png = await queue.run(request, viewer.strip, key=_strip_key(request), **query)
        return Response(png, media_type="image/png")

    return app
