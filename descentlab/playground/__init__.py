"""The playground: a local web app where descentlab's own optimizers draw live.

``descentlab playground`` serves a page (plain HTML/JS/CSS in ``static/``, no
build step, nothing loaded from other hosts) whose every path and training
curve is computed in Python by ``descentlab.optim``, ``descentlab.functions``
and the Trainer:

- :mod:`.paths`    -- optimizer paths on the 2-D test functions (the library part);
- :mod:`.explain`  -- the "why" text and presets of each function;
- :mod:`.api`      -- the JSON API as plain functions (query dict -> dict);
- :mod:`.training` -- one live training run at a time, in a background thread;
- :mod:`.server`   -- the ThreadingHTTPServer that serves the page and the API.

::

    from descentlab.playground import make_server
    server = make_server(port=0)        # a free port; server.url
    server.serve_forever()              # ... server.shutdown(); server.close()
"""

from .paths import DOMAIN_SCALE, MAX_STEPS, PathResult, contour_grid, domain, run_path
from .server import PlaygroundServer, make_server

__all__ = [
    "DOMAIN_SCALE",
    "MAX_STEPS",
    "PathResult",
    "PlaygroundServer",
    "contour_grid",
    "domain",
    "make_server",
    "run_path",
]
