"""Serving the viewer: the optional extra, the listening socket, uvicorn.

The socket is bound before the model loads (:func:`bind_socket`), so a port in use is one
error line at once, and the server then runs on that very socket (no race for the port).
"""
from __future__ import annotations

import errno
import ipaddress
import socket
import threading
import webbrowser

from .. import checks
from ..errors import GanmetricError, InputError

INSTALL_HINT = 'pip install "ganmetric[viewer]"'
"""The command that installs the viewer's extra (FastAPI and uvicorn)."""


class MissingExtra(GanmetricError):
    """The ``viewer`` extra (FastAPI and uvicorn) is not installed."""


def require_extra() -> None:
    """Check that FastAPI and uvicorn can be imported.

    Raises:
        MissingExtra: one line naming the missing package and the install command.
    """
    for name in ("fastapi", "uvicorn"):
        try:
            __import__(name)
        except ImportError:
            raise MissingExtra(f"the viewer needs FastAPI and uvicorn ({name} is not installed): "
                               f"{INSTALL_HINT}") from None


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0: any free port), ready for :func:`serve`.

    Args:
        host: the address or name to listen on (``127.0.0.1``: this machine only).
        port: the port, in [0, 65535] (0: any free port).

    Returns:
        The bound socket (not listening yet).

    Raises:
        InputError: a port outside [0, 65535], a host that does not resolve here, or a port in use.
    """
    port = checks.integer("port", port, minimum=0, maximum=65535)
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError):
        raise InputError(f"host {host} is not an address or a name this machine can resolve",
                         argument="host") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a port in TIME_WAIT can be reused
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            shown = f"[{host}]" if ":" in host else host
            raise InputError(f"{shown}:{port} is already in use by another program: choose another port (0 picks "
                             f"a free one)", argument="port") from None
        raise InputError(f"cannot listen on {host} port {port}: {exc.strerror}", argument="host") from None
    return sock


def url_of(sock: socket.socket, host: str) -> str:
    """The address a browser opens for a bound socket (IPv6 hosts in brackets).

    Args:
        sock: a socket from :func:`bind_socket`.
        host: the host it was bound to.

    Returns:
        ``http://HOST:PORT/``.
    """
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (localhost, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_warning(host: str) -> str | None:
    """The warning to print when the viewer listens beyond this machine, else None.

    Args:
        host: the host the viewer listens on.

    Returns:
        One ``Warning:`` line, or None for a loopback host.
    """
    if is_loopback(host):
        return None
    return (f"Warning: listening on {host}: anyone who can reach this port can drive the model (and use this "
            f"machine's CPU or GPU); the default, 127.0.0.1, is this machine only.")


def serve(app, sock: socket.socket, *, open_browser: bool = False, url: str | None = None) -> None:
    """Run ``app`` with uvicorn on the bound ``sock`` until Ctrl-C (quiet: warnings and errors only).

    Args:
        app: the ASGI app (:func:`~ganmetric.viewer.create_app`).
        sock: from :func:`bind_socket`.
        open_browser: open ``url`` in the default browser once the server is starting.
        url: the page's address (default: :func:`url_of` the socket).
    """
    import uvicorn
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    if open_browser:
        threading.Timer(0.5, webbrowser.open, [url or url_of(sock, sock.getsockname()[0])]).start()
    server.run(sockets=[sock])
