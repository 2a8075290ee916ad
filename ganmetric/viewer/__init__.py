"""``ganmetric view``: a local web page with one slider per metric axis (the optional extra ``viewer``).

    viewer = Viewer(G, load_axes("axes.npz"), D)       # plain Python: renders, ranges, strips
    sock = bind_socket("127.0.0.1", 8765)
    app = create_app(viewer, port=8765)                # FastAPI (needs pip install "ganmetric[viewer]")
    serve(app, sock)                                   # uvicorn until Ctrl-C

Only :func:`create_app` and :func:`serve` need FastAPI and uvicorn; the rest imports without them.
"""
from .server import INSTALL_HINT, MissingExtra, bind_socket, host_warning, require_extra, serve, url_of
from .state import DEFAULT_D_MAX, Rendered, Viewer


def create_app(viewer, *, host: str = "127.0.0.1", port: int | None = None):
    """The viewer's FastAPI app (see ``ganmetric.viewer.app``).

    Args:
        viewer: the :class:`Viewer`.
        host: the address the server listens on: requests must name it (or localhost, 127.0.0.1, [::1]) in
            their Host header (see ``ganmetric.viewer.guard``).
        port: the port it listens on, which the Host header must carry; None accepts any port.

    Raises:
        MissingExtra: FastAPI or uvicorn is not installed.
    """
    require_extra()
    from .app import create_app as _create_app
    return _create_app(viewer, host=host, port=port)


__all__ = ["Viewer", "Rendered", "DEFAULT_D_MAX", "create_app", "serve", "bind_socket", "url_of", "host_warning",
           "require_extra", "MissingExtra", "INSTALL_HINT"]
