"""Which requests the viewer answers at all: its own address in ``Host``, its own page as the origin, JSON bodies.

The viewer listens on this machine, but any web page the user visits can send requests
to it through the browser. Three checks, made before a request reaches a route:

- **Host** must name the address the server was started on, with its port (127.0.0.1,
  localhost, [::1] or the ``--host`` given; on a wildcard address such as 0.0.0.0 also any
  IP address and this machine's name). A page on ``attacker.example`` whose name is made to
  resolve to 127.0.0.1 (DNS rebinding) sends ``Host: attacker.example``: 400.
- **Origin**, when a browser sends one, must be the server's own (``http://`` + Host), and
  ``Sec-Fetch-Site``, when sent, must be ``same-origin`` or ``none`` (an address typed by the
  user): a request made by another site's page (a form, a script, an image tag): 403.
- **Content-Type** of a POST must be ``application/json`` (charset utf-8 if any): a
  cross-origin ``text/plain`` POST, which browsers send without asking the server first, gets 415.

:func:`refusal` is plain Python; :class:`RequestGuard` applies it as ASGI middleware.
"""
from __future__ import annotations

import ipaddress
import json
import socket

from .protocol import shown

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
#: ``Sec-Fetch-Site`` values of the page's own requests and of an address typed by the user
OWN_SITES = ("same-origin", "none")
#: methods that never carry a body the viewer reads
BODILESS = ("GET", "HEAD", "OPTIONS")


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _split_host(value: str) -> tuple[str, int | None] | None:
    """``name:port`` (IPv6 in brackets) as (lower-case name, port or None); None when malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[:end + 1], value[end + 1:]
    else:
        name, _, port = value.partition(":")
        rest = f":{port}" if port or value.endswith(":") else ""
    if not rest:
        return name, None
    if not rest.startswith(":") or not rest[1:].isdigit() or len(rest) > 6:
        return None
    return name, int(rest[1:])


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
        return True
    except ValueError:
        return False


class Address:
    """The names a request's Host header may carry for a server started on ``host`` and ``port``.

    Args:
        host: the address given to listen on (``--host``).
        port: the port listened on (after binding: the real one for port 0), or None to accept any port
            (an app made before its socket, e.g. in tests).
    """

    def __init__(self, host: str = "127.0.0.1", port: int | None = None):
        self.port = port
        self.wildcard = host.strip("[]") in ("0.0.0.0", "::", "")
        names = set(LOOPBACK_NAMES) | {_bracketed(host.lower())}
        if self.wildcard:
            names.add(socket.gethostname().lower())
        self.names = frozenset(names)

    def accepts(self, host_header: str) -> bool:
        """Whether a Host header value names this server (with its port; none only for port 80)."""
        parts = _split_host(host_header)
        if parts is None:
            return False
        name, port = parts
        if self.port is not None and port != self.port and not (port is None and self.port == 80):
            return False
        return name in self.names or (self.wildcard and _is_ip(name))

    def describe(self) -> str:
        """The addresses accepted, for messages."""
        port = "" if self.port is None else f":{self.port}"
        listed = ", ".join(sorted(n + port for n in self.names))
        return listed + (" or any IP address" + port if self.wildcard else "")


def _media_type(value: str) -> tuple[str, dict]:
    kind, *params = value.split(";")
    pairs = (p.partition("=") for p in params)
    return kind.strip().lower(), {k.strip().lower(): v.strip().strip('"').lower() for k, _, v in pairs}


def refusal(method: str, headers: dict, address: Address) -> tuple[int, str, str] | None:
    """Why a request is refused before any work, or None to let it through.

    Args:
        method: the HTTP method.
        headers: lower-case header names -> values (the first of each).
        address: the server's :class:`Address`.

    Returns:
        ``(status, one-line message, the header to blame)`` or None.
    """
    host = headers.get("host")
    if host is None or not address.accepts(host):
        got = "no Host header" if host is None else f"Host {shown(host)}"
        return 400, (f"{got}: this server answers only requests addressed to {address.describe()} (a page "
                     f"reaching it through another name is refused)"), "host"
    origin = headers.get("origin")
    if origin is not None and origin.strip().lower() != f"http://{host.strip().lower()}":
        return 403, (f"requests from another site's page are refused (Origin {shown(origin)}); open the viewer "
                     f"at http://{shown(host)}/"), "origin"
    site = headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() not in OWN_SITES:
        return 403, (f"requests from another site's page are refused (Sec-Fetch-Site {shown(site)}); open the "
                     f"viewer at http://{shown(host)}/"), "sec-fetch-site"
    if method.upper() not in BODILESS:
        kind, params = _media_type(headers.get("content-type", ""))
        if kind != "application/json" or params.get("charset", "utf-8") not in ("utf-8", "utf8"):
            got = shown(headers["content-type"]) if "content-type" in headers else "none"
            return 415, (f"the request body must be JSON sent as Content-Type: application/json (got {got})"), \
                "content-type"
    return None


class RequestGuard:
    """ASGI middleware answering :func:`refusal`'s 4xx (JSON ``{"error", "field"}``) before the app runs.

    Args:
        app: the ASGI app to guard.
        address: the server's :class:`Address`.
    """

    def __init__(self, app, address: Address):
        self.app, self.address = app, address

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {}
        for key, value in scope["headers"]:
            headers.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
        refused = refusal(scope["method"], headers, self.address)
        if refused is None:
            return await self.app(scope, receive, send)
        status, message, field = refused
        body = json.dumps({"error": message, "field": field}).encode("utf-8")
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
