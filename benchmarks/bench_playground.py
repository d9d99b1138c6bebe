"""Latency of the playground's path API, as the page uses it.

One "update" is what the page does when a slider moves: one ``/api/path``
request per optimizer card, sent at once (here 4 optimizers x 300 steps on the
book's bowl), timed from the first request to the last answer, over real HTTP
on loopback. Prints the median, 90th percentile and maximum::

    python benchmarks/bench_playground.py                 # 4 optimizers x 300 steps
    python benchmarks/bench_playground.py --steps 2000 --repeats 10
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from descentlab.playground import make_server

OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--function", default="book_quadratic")
    a = ap.parse_args()
    srv = make_server(port=0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = srv.url.rstrip("/")

    def fetch(i_opt):
        i, opt = i_opt
        url = (
            f"{base}/api/path?function={a.function}&optimizer={opt}&steps={a.steps}"
            f"&lr={0.1 + 1e-4 * i}"  # a new lr each time, as a moving slider sends
        )
        with urllib.request.urlopen(url) as r:
            return len(r.read())

    times = []
    with ThreadPoolExecutor(len(OPTIMIZERS)) as pool:
        for i in range(a.repeats + 2):
            t0 = time.perf_counter()
            list(pool.map(fetch, [(i, o) for o in OPTIMIZERS]))
            if i >= 2:  # two warm-up updates
                times.append(time.perf_counter() - t0)
    srv.shutdown()
    srv.close()
    times.sort()
    p90 = times[int(0.9 * (len(times) - 1))]
    print(
        f"{len(OPTIMIZERS)} optimizers x {a.steps} steps on {a.function}: median "
        f"{1e3 * statistics.median(times):.0f} ms, p90 {1e3 * p90:.0f} ms, max "
        f"{1e3 * times[-1]:.0f} ms per update ({a.repeats} updates)"
    )


if __name__ == "__main__":
    main()
