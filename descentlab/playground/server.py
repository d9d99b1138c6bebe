"""The playground's HTTP server: the standard library's ThreadingHTTPServer.

Routes::

    GET  /, /app.js, ...        files of the static folder (a fixed table built at
                                start; nothing else on disk can be named)
    GET  /api/path|grid|functions|meta     JSON (see descentlab.playground.api)
    POST /api/train?...         start a training run (409 while one runs)
    POST /api/train/stop        stop it at the next batch
    GET  /api/train/status      the current run
    GET  /api/train/events?run=ID&since=N   server-sent events of run ID

Safety: each request gets a JSON error (400 bad field, 404, 409, 503 busy)
instead of an exception; path computations run at most ``max_work`` at a time
(503 when a slot does not free up within a second); at most ``max_streams``
event streams; a loopback server refuses requests whose Host header names
another host (DNS rebinding); every page is served with a Content-Security-Policy
that lets it load nothing from any other origin.
"""

from __future__ import annotations

import ipaddress
import json
import mimetypes
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import api
from .training import TrainingManager, parse_train_query

__all__ = ["PlaygroundServer", "make_server", "static_files"]

MAX_QUERY = 4096
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}
_GET_API = {
    "/api/path": (api.path, True),
    "/api/grid": (api.grid, True),
    "/api/functions": (api.functions, False),
    "/api/meta": (api.meta, False),
}


def static_files(folder: Path | None = None) -> dict[str, Path]:
    """URL path -> file for every file under the static folder ("/" -> index.html)."""
    root = Path(folder) if folder is not None else _package_static()
    table: dict[str, Path] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            table["/" + p.relative_to(root).as_posix()] = p
    if "/index.html" in table:
        table["/"] = table["/index.html"]
    return table


def _package_static() -> Path:
    return Path(str(resources.files(__package__).joinpath("static")))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PlaygroundServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with the playground's static table, limits and trainer."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        static: Path | None = None,
        max_work: int = 4,
        max_streams: int = 8,
        quiet: bool = True,
    ):
        self.static = static_files(static)
        self.work = threading.BoundedSemaphore(max_work)
        self.streams = threading.BoundedSemaphore(max_streams)
        self.training = TrainingManager()
        self.closing = threading.Event()
        self.quiet = quiet
        if ":" in address[0]:  # an IPv6 address such as ::1
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.loopback = _is_loopback(address[0])

    @property
    def url(self) -> str:
        host, port = str(self.server_address[0]), int(self.server_address[1])
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}/"

    def close(self) -> None:
        """Stop streams and the training run, then release the socket."""
        self.closing.set()
        self.training.shutdown()
        self.server_close()


def make_server(
    host: str = "127.0.0.1", port: int = 8765, **kw: Any
) -> PlaygroundServer:
    """Bind a PlaygroundServer (``port=0`` picks a free port; see ``.url``)."""
    return PlaygroundServer((host, port), **kw)


class _Handler(BaseHTTPRequestHandler):
    server: PlaygroundServer
    server_version = "descentlab-playground"
    timeout = 30  # an idle or stalled connection does not hold its thread forever

    # ------------------------------------------------------------ plumbing
    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)

    def _send(
        self, status: int, body: bytes, ctype: str, extra: dict | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("Referrer-Policy", "no-referrer")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, extra: dict | None = None) -> None:
        body = json.dumps(obj, allow_nan=False, separators=(",", ":")).encode()
        self._send(status, body, "application/json", extra)

    def _error(self, status: int, message: str, extra: dict | None = None) -> None:
        self._json(status, {"error": message}, extra)

    def _host_ok(self) -> bool:
        if not self.server.loopback:
            return True
        host = (self.headers.get("Host") or "").strip().lower()
        if host.startswith("["):
            name = host[1:].split("]", 1)[0]
        else:
            name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        return _is_loopback(name)

    def _dispatch(self, method: str) -> None:
        try:
            if not self._host_ok():
                self._error(403, "this server answers only requests for localhost.")
                return
            parts = urlsplit(self.path)
            if len(parts.query) > MAX_QUERY:
                self._error(
                    400,
                    f"the query string is too long; at most {MAX_QUERY} characters.",
                )
                return
            try:
                query = parse_qs(parts.query, keep_blank_values=True, max_num_fields=40)
            except ValueError:
                self._error(400, "too many query parameters; at most 40.")
                return
            if method == "GET":
                self._get(parts.path, query)
            else:
                self._post(parts.path, query)
        except api.ApiError as exc:
            self._error(exc.status, exc.message)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the client went away
        except Exception as exc:  # never let one request take the server down
            traceback.print_exc(file=sys.stderr)
            try:
                self._error(500, f"internal error: {type(exc).__name__}: {exc}")
            except OSError:
                pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        length = self.headers.get("Content-Length")
        if length and length.isdigit() and 0 < int(length) <= 65536:
            self.rfile.read(int(length))  # parameters travel in the query string
        self._dispatch("POST")

    # ------------------------------------------------------------ routes
    def _get(self, path: str, q: api.Query) -> None:
        if path in _GET_API:
            fn, heavy = _GET_API[path]
            if heavy:
                if not self.server.work.acquire(timeout=1.0):
                    raise api.ApiError(
                        503, "the server is busy computing other paths; try again."
                    )
                try:
                    payload = fn(q)
                finally:
                    self.server.work.release()
            else:
                payload = fn(q)
            self._json(200, payload)
        elif path == "/api/train/status":
            api.reject_unknown(q, ())
            cur = self.server.training.current
            self._json(
                200,
                {
                    "running": cur is not None and not cur.done,
                    "run": None if cur is None else cur.summary(),
                },
            )
        elif path == "/api/train/events":
            self._events(q)
        elif path.startswith("/api/"):
            raise api.ApiError(404, f"no API endpoint {path[:80]!r}.")
        elif path in self.server.static:
            self._static(self.server.static[path])
        else:
            raise api.ApiError(404, "not found.")

    def _post(self, path: str, q: api.Query) -> None:
        if path == "/api/train":
            run = self.server.training.start(parse_train_query(q))
            self._json(202, {"run": run.id, "config": run.config})
        elif path == "/api/train/stop":
            api.reject_unknown(q, ())
            stopping = self.server.training.stop()
            self._json(200, {"stopping": None if stopping is None else stopping.id})
        else:
            raise api.ApiError(404, f"no POST endpoint {path[:80]!r}.")

    def _static(self, file: Path) -> None:
        ctype = _TYPES.get(file.suffix) or (
            mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        )
        self._send(200, file.read_bytes(), ctype)

    def _events(self, q: api.Query) -> None:
        api.reject_unknown(q, ("run", "since"))
        run_id = api.int_field(q, "run", 1, 2**31)
        if run_id is None:
            raise api.ApiError(400, "'run' is required: the id POST /api/train gave.")
        since = api.int_field(q, "since", 0, 2**31) or 0
        resumed = (self.headers.get("Last-Event-ID") or "").strip()
        if resumed.isdigit():  # EventSource reconnecting: go on where it stopped
            since = max(since, int(resumed))
        mgr = self.server.training
        mgr.get(run_id)  # 404 for an unknown run, before the stream starts
        if not self.server.streams.acquire(blocking=False):
            raise api.ApiError(503, "too many open event streams; close a page.")
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            last = time.monotonic()
            while not self.server.closing.is_set():
                events, done = mgr.events(run_id, since, timeout=0.2)
                if events:
                    since += len(events)
                    data = json.dumps(events, allow_nan=False, separators=(",", ":"))
                    self.wfile.write(f"id: {since}\ndata: {data}\n\n".encode())
                    self.wfile.flush()
                    last = time.monotonic()
                elif time.monotonic() - last > 5.0:
                    self.wfile.write(b": keep-alive\n\n")
                    self.wfile.flush()
                    last = time.monotonic()
                if done and not events:
                    break
        finally:
            self.server.streams.release()
        self.close_connection = True
