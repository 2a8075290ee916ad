"""``ganmetric view``: a local web page with one slider per metric axis (the optional extra ``viewer``).

    viewer = Viewer(G, load_axes("axes.npz"), D)       # plain Python: renders, ranges, strips
    app = create_app(viewer)                           # FastAPI (needs pip install "ganmetric[viewer]")
    sock = bind_socket("127.0.0.1", 8765)
    serve(app, sock)                                   # uvicorn until Ctrl-C

Only :func:`create_app` and :func:`serve` need FastAPI and uvicorn; the rest imports without them.
"""
from .server import INSTALL_HINT, MissingExtra, bind_socket, host_warning, require_extra, serve, url_of
from .state import DEFAULT_D_MAX, Rendered, Viewer


def create_app(viewer):
    """The viewer's FastAPI app (see ``ganmetric.viewer.app``).

    Raises:
        MissingExtra: FastAPI or uvicorn is not installed.
    """
    require_extra()
    from .app import create_app as _create_app
    return _create_app(viewer)


__all__ = ["Viewer", "Rendered", "DEFAULT_D_MAX", "create_app", "serve", "bind_socket", "url_of", "host_warning",
           "require_extra", "MissingExtra", "INSTALL_HINT"]
