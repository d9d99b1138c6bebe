"""`descentlab playground`: serve the interactive playground on loopback."""

from __future__ import annotations

import argparse
import errno
import signal
import sys
import threading

from .common import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "playground",
        help="a local web page where the real optimizers draw their paths live",
    )
    p.add_argument(
        "--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)"
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1, this machine only)",
    )
    p.add_argument(
        "--no-browser", action="store_true", help="do not open a web browser"
    )
    p.add_argument("--verbose", action="store_true", help="log every request")


def _open_browser(url: str) -> None:
    """Open ``url`` in a graphical browser, in the background; never a text browser
    in this terminal (on Linux without a display there is none to open)."""
    import os
    import webbrowser

    graphical = sys.platform in ("darwin", "win32") or any(
        os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY")
    )
    if not graphical:
        print("(no display here: open the address above in a browser)", flush=True)
        return
    threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def run(a: argparse.Namespace) -> int:
    import warnings

    from ..playground import make_server

    if not 0 <= a.port <= 65535:
        raise UsageError(f"--port must be in [0, 65535]. Got {a.port}.")
    try:
        server = make_server(a.host, a.port, quiet=not a.verbose)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"port {a.port} on {a.host} is in use; choose another with --port "
                "(or --port 0 for a free one)."
            ) from None
        raise UsageError(
            f"cannot listen on {a.host}:{a.port}: {exc.strerror}."
        ) from None
    warnings.filterwarnings(
        "ignore", message="Trainer: stopped", category=RuntimeWarning
    )
    if not server.loopback:
        print(
            f"warning: listening on {a.host}: anyone who can reach this machine can "
            "use the playground.",
            file=sys.stderr,
        )
    print(f"descentlab playground: {server.url}  (Ctrl-C to stop)", flush=True)
    if not a.no_browser:
        _open_browser(server.url)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()
    print("descentlab playground: stopped", flush=True)
    return 0
