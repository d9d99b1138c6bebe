"""The playground's HTTP API: the library's numbers, and no way to break it."""

from __future__ import annotations

import http.client
import inspect
import json
import math
import re
import threading
import time
import urllib.parse

import numpy as np
import pytest

from descentlab.functions import FUNCTIONS
from descentlab.nn.module import Parameter
from descentlab.optim import OPTIMIZERS
from descentlab.playground import make_server
from descentlab.playground.explain import critical_momentum, polyak_momentum
from descentlab.playground.paths import domain
from descentlab.schedules import Scheduler, make_schedule


@pytest.fixture(scope="module")
def server():
    srv = make_server(port=0)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.close()
    t.join(5)


def request(srv, path, method="GET"):
    """(status, headers, body bytes) for a raw request path (sent as given)."""
    host, port = srv.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def get_json(srv, path, method="GET"):
    status, headers, body = request(srv, path, method)
    assert headers["Content-Type"] == "application/json", (path, headers)
    return status, json.loads(body)


def library_path(function, optimizer, steps, start, schedule=None, **hp):
    """An independent loop over descentlab.optim: gradient in, step, repeat."""
    fn = FUNCTIONS[function]
    kw = {k: v for k, v in hp.items() if k not in ("beta1", "beta2")}
    if "beta1" in hp:
        kw["betas"] = (hp["beta1"], hp["beta2"])
    p = Parameter(np.array(start, dtype=np.float64))
    opt = OPTIMIZERS[optimizer]([p], **kw)
    sched = None
    if schedule:
        sched = Scheduler(
            opt, make_schedule(schedule, hp["lr"], steps), interval="step"
        )
    points = [p.data.copy()]
    for _ in range(steps):
        gx, gy = fn.grad(p.data[0], p.data[1])
        p.grad[:] = (gx, gy)
        opt.step()
        if sched is not None:
            sched.step()
        points.append(p.data.copy())
    pts = np.array(points)
    return pts, fn.value(pts[:, 0], pts[:, 1])


#: (optimizer, function, non-default hyperparameters, schedule) -- every optimizer
CASES = [
    ("sgd", "book_quadratic", {"lr": 0.95}, None),
    ("sgd", "rosenbrock", {"lr": 1e-3, "momentum": 0.5, "nesterov": True}, "cosine"),
    ("momentum", "book_quadratic", {"lr": 0.1, "momentum": 0.81}, None),
    (
        "nesterov",
        "himmelblau",
        {"lr": 0.01, "momentum": 0.7, "weight_decay": 0.01},
        None,
    ),
    ("adagrad", "book_quadratic", {"lr": 1.5, "eps": 1e-8}, "step"),
    ("rmsprop", "beale", {"lr": 0.01, "alpha": 0.9, "momentum": 0.3}, None),
    ("adam", "rosenbrock", {"lr": 0.1, "beta1": 0.8, "beta2": 0.99}, "warmup-cosine"),
    ("adamw", "rastrigin", {"lr": 0.05, "weight_decay": 0.1}, None),
    ("nadam", "himmelblau", {"lr": 0.1, "beta1": 0.95}, "onecycle"),
    ("lion", "book_quadratic", {"lr": 0.1, "beta1": 0.9, "beta2": 0.99}, None),
    ("adadelta", "beale", {"lr": 5.0, "rho": 0.95, "eps": 1e-4}, None),
    ("yogi", "saddle", {"lr": 0.05, "eps": 1e-3}, "exp"),
]


@pytest.mark.parametrize(("optimizer", "function", "hp", "schedule"), CASES)
def test_path_equals_the_library(server, optimizer, function, hp, schedule):
    """Check that /api/path returns steps+1 points equal to descentlab.optim's own."""
    steps, start = (
        150,
        (FUNCTIONS[function].start[0] + 0.25, FUNCTIONS[function].start[1]),
    )
    q = {"function": function, "optimizer": optimizer, "steps": steps}
    q.update(x0=start[0], y0=start[1], **{k: str(v).lower() for k, v in hp.items()})
    if schedule:
        q["schedule"] = schedule
    status, r = get_json(server, "/api/path?" + urllib.parse.urlencode(q))
    assert status == 200, r
    assert r["diverged"] is None
    full = dict(hp)
    if "beta1" in full or "beta2" in full:  # the other beta: the class default
        betas = inspect.signature(OPTIMIZERS[optimizer]).parameters["betas"].default
        full.setdefault("beta1", betas[0])
        full.setdefault("beta2", betas[1])
    pts, loss = library_path(function, optimizer, steps, start, schedule, **full)
    assert len(r["path"]) == steps + 1
    np.testing.assert_allclose(np.array(r["path"]), pts, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.array(r["loss"]), loss, rtol=1e-12, atol=1e-12)
    f_star = FUNCTIONS[function].min_value
    if f_star is not None:
        np.testing.assert_allclose(np.array(r["gap"]), loss - f_star, atol=1e-12)
    g = np.array(FUNCTIONS[function].grad(pts[:, 0], pts[:, 1])).T
    np.testing.assert_allclose(np.array(r["grad"]), g, rtol=1e-12, atol=1e-12)
    for k, v in hp.items():
        assert r["hyperparameters"][k] == v


def test_divergence_is_reported_at_its_step_and_not_clipped(server):
    """Check that SGD at lr 1.05 on x^2/20 + y^2 stops at the first step outside the
    domain, with that point as computed (|y| grows by |1 - 2 lr| = 1.1 per step)."""
    status, r = get_json(
        server, "/api/path?function=book_quadratic&optimizer=sgd&lr=1.05&steps=300"
    )
    assert status == 200
    xmin, xmax, ymin, ymax = domain(FUNCTIONS["book_quadratic"])
    pts, _ = library_path("book_quadratic", "sgd", 300, (-7.0, 2.0), lr=1.05)
    outside = (np.abs(pts[:, 1]) > ymax) | (np.abs(pts[:, 0]) > xmax)
    first = int(np.argmax(outside))
    assert 0 < first < 300
    assert r["diverged"]["step"] == first
    assert "domain" in r["diverged"]["reason"]
    assert len(r["path"]) == first + 1
    np.testing.assert_allclose(r["path"][-1], pts[first], rtol=0, atol=1e-12)
    assert abs(r["path"][-1][1]) > ymax  # the point that left, not a clipped one


def test_functions_and_meta_describe_every_function_and_optimizer(server):
    """Check that /api/functions lists each function with domain, minima and f*, and
    /api/meta gives one distinct colour and the class defaults per optimizer."""
    status, r = get_json(server, "/api/functions")
    assert status == 200
    names = [f["name"] for f in r["functions"]]
    assert names == list(FUNCTIONS)
    for f in r["functions"]:
        fn = FUNCTIONS[f["name"]]
        assert f["domain"] == list(domain(fn))
        assert f["minima"] == [list(m) for m in fn.minima]
        assert f["f_star"] == fn.min_value
        assert f["why"] and all(isinstance(t, str) and t for t in f["why"])
        for preset in f["presets"]:
            assert {o["name"] for o in preset["optimizers"]} <= set(OPTIMIZERS)
    status, m = get_json(server, "/api/meta")
    assert [o["name"] for o in m["optimizers"]] == list(OPTIMIZERS)
    colors = [o["color"] for o in m["optimizers"]]
    assert len(set(colors)) == len(colors)
    from descentlab import palette

    assert colors == [palette.optimizer_color(n) for n in OPTIMIZERS]  # as the report
    assert m["optimizers"][0]["defaults"]["lr"] == 0.01  # SGD's class default


def test_grid_is_the_function_on_the_box(server):
    """Check that /api/grid holds f(x_j, y_i) over the view box."""
    status, g = get_json(server, "/api/grid?function=rosenbrock&nx=7&ny=5")
    assert status == 200
    x, y, z = np.array(g["x"]), np.array(g["y"]), np.array(g["z"])
    fn = FUNCTIONS["rosenbrock"]
    assert (x[0], x[-1], y[0], y[-1]) == fn.box
    np.testing.assert_allclose(z, fn.value(*np.meshgrid(x, y)), rtol=1e-15)
    assert np.all(np.diff(g["levels"]) > 0)


S = "/api/path?function=saddle&optimizer=sgd&"
A = "/api/path?function=saddle&optimizer=adam&"
BAD = [
    ("/api/path?optimizer=sgd", "'function' is required"),
    ("/api/path?function=nope&optimizer=sgd", "'function' must be one of"),
    ("/api/path?function=saddle&optimizer=sgdx", "'optimizer' must be one of"),
    (S + "lr=abc", r"'lr' must be a float in \[0, 100\]"),
    (S + "lr=-1", r"'lr' must be a float in \[0, 100\]"),
    (S + "lr=nan", "'lr' must be"),
    (S + "lr=inf", "'lr' must be"),
    (S + "lr=1e400", "'lr' must be"),
    (S + "steps=2001", r"'steps' must be an int in \[0, 2000\]"),
    (S + "steps=1.5", "'steps' must be an int"),
    (S + "x0=1000", r"'x0' must be a float in \[-25, 25\]"),
    (A + "beta1=1", r"'beta1' must be a float in \[0, 1\)"),
    (S + "beta1=0.9", "'beta1' does not apply to sgd"),
    (S + "lr=1&lr=2", "'lr' is given 2 times"),
    (S + "colour=red", "unknown parameter 'colour'"),
    (S + "nesterov=1", "nesterov=True requires momentum"),
    (S + "nesterov=maybe", "'nesterov' must be true or false"),
    (S + "schedule=plateau", "'schedule' must be one of"),
    ("/api/grid?function=saddle&nx=5000", r"'nx' must be an int in \[2, 400\]"),
    ("/api/functions?x=1", "unknown parameter 'x'"),
    ("/api/train/events?run=abc", "'run' must be an int"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "message"), BAD)
def test_bad_parameters_get_400_naming_the_field(server, path, message):
    """Check that a bad field is a 400 with a JSON error naming it and its range."""
    status, r = get_json(server, path)
    assert status == 400
    assert set(r) == {"error"}
    assert re.search(message, r["error"]), r["error"]


@pytest.mark.parametrize(
    ("path", "method"),
    [("/api/nothing", "GET"), ("/nothing.html", "GET"), ("/api/path", "POST"),
     ("/api/train/events?run=999", "GET")],
)  # fmt: skip
def test_unknown_paths_get_404(server, path, method):
    """Check that unknown pages, endpoints and runs are 404 with a JSON error."""
    status, r = get_json(server, path, method)
    assert status == 404 and "error" in r


def test_static_files_and_headers(server):
    """Check that the page and its scripts are served with a same-origin-only CSP."""
    for path, ctype in (("/", "text/html"), ("/app.js", "text/javascript")):
        status, headers, body = request(server, path)
        assert status == 200 and headers["Content-Type"].startswith(ctype)
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert body
    _, _, html = request(server, "/")
    assert b"http://" not in html and b"https://" not in html  # nothing from outside


TRAVERSAL = [
    "/../pyproject.toml", "/../../secret.txt", "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/..%2fsecret.txt", "/..%2Fsecret.txt", "/%2e%2e%2fsecret.txt", "/.%2e/secret.txt",
    "/..\\secret.txt", "/%5c..%5csecret.txt", "/..%5csecret.txt", "//secret.txt",
    "/index.html/../../secret.txt", "/./../secret.txt", "/%252e%252e/secret.txt",
    "/index.html%00", "/%00../secret.txt", "/SECRET_DIR/secret.txt", "/C:/secret.txt",
    "/C:%5csecret.txt", "/%2fetc%2fpasswd", "/etc/passwd", "/..;/secret.txt",
    "http://localhost/../secret.txt", "/static/../secret.txt",
]  # fmt: skip


def test_path_traversal_never_leaves_the_static_folder(tmp_path):
    """Check that no spelling of ../ (encoded, doubled, backslashes, absolute paths)
    serves a file outside the static folder."""
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<p>hello</p>")
    secret = "TOP-SECRET-42"
    (tmp_path / "secret.txt").write_text(secret)
    srv = make_server(port=0, static=static)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        paths = [*TRAVERSAL, "/" + str(tmp_path / "secret.txt").lstrip("/")]
        paths.append(str(tmp_path / "secret.txt").replace("SECRET_DIR", ""))
        for path in paths:
            status, _, body = request(srv, path.replace("SECRET_DIR", str(tmp_path)))
            assert secret.encode() not in body, path
            assert status in (400, 404), (path, status)
        assert request(srv, "/index.html")[2] == b"<p>hello</p>"
    finally:
        srv.shutdown()
        srv.close()


GARBAGE = ["", "0", "-0", "1e308", "-1e308", "1e-320", "nan", "-inf", "0x10",
           "1_0", "　1", "١٢", "%", "%zz", "%00", "\u00e9", "'", '"', "<script>",
           "[]", "{}", "true", "None", "9" * 400, "-1", "2000", "2001", "0.5",
           "book_quadratic", "adam", "cosine", "sgd", "rosenbrock", "saddle", "..",
           "a" * 2000]  # fmt: skip


def test_fuzzed_queries_get_200_or_400_json(server):
    """Check that hundreds of random and garbage queries get 200 or 400 JSON (never a
    500 or a dropped connection) and the server still answers afterwards."""
    rng = np.random.default_rng(0)
    fields = ["function", "optimizer", "lr", "steps", "x0", "y0", "momentum",
              "nesterov", "beta1", "beta2", "eps", "rho", "alpha", "weight_decay",
              "schedule", "nx", "ny", "bogus", ""]  # fmt: skip
    endpoints = ["/api/path", "/api/grid", "/api/functions", "/api/meta",
                 "/api/train/status", "/api/train/events"]  # fmt: skip
    seen = set()
    for i in range(300):
        parts = []
        for _ in range(int(rng.integers(0, 9))):
            key = fields[int(rng.integers(len(fields)))]
            if rng.random() < 0.5:
                val = GARBAGE[int(rng.integers(len(GARBAGE)))]
            else:
                val = str(rng.normal() * 10 ** float(rng.integers(-3, 4)))
            parts.append(
                f"{urllib.parse.quote(key, safe='')}={urllib.parse.quote(val, safe='')}"
            )
        if i % 7 == 0:
            parts.append("%%%&&==&=")
        endpoint = endpoints[int(rng.integers(len(endpoints)))]
        if endpoint == "/api/train/events":
            endpoint = "/api/path"  # a valid run id would stream; tested elsewhere
        status, headers, body = request(server, endpoint + "?" + "&".join(parts))
        seen.add(status)
        assert status in (200, 400), (endpoint, parts, status, body[:200])
        payload = json.loads(body)
        if status == 400:
            assert isinstance(payload["error"], str) and payload["error"]
        else:
            json.dumps(payload, allow_nan=False)  # strict JSON: no NaN or Infinity
    assert seen == {200, 400}
    assert request(server, "/api/meta")[0] == 200


def test_fuzzed_training_requests_are_refused_started_or_busy(server):
    """Check that garbage POSTs to the training endpoint get 202, 400 or 409 JSON, both
    refusals and starts happen, and the server still answers afterwards."""
    rng = np.random.default_rng(1)
    fields = ["model", "optimizer", "lr", "batch_size", "epochs", "n_train", "n_val",
              "momentum", "schedule", "seed", "nesterov", "bogus"]  # fmt: skip
    seen = set()
    for _ in range(60):
        parts = [
            f"{fields[int(rng.integers(len(fields)))]}="
            + urllib.parse.quote(GARBAGE[int(rng.integers(len(GARBAGE)))], safe="")
            for _ in range(int(rng.integers(0, 5)))
        ]
        status, _, body = request(server, "/api/train?" + "&".join(parts), "POST")
        seen.add(status)
        assert status in (202, 400, 409), (parts, status, body[:200])
        assert json.loads(body)
        server.training.shutdown()
    assert {202, 400} <= seen
    assert request(server, "/api/meta")[0] == 200


def test_an_overlong_path_is_refused(server):
    """Check that a 10,000-character path is refused, and the server still answers."""
    status, headers, body = request(server, "/" + "x" * 10_000)
    assert status in (400, 404, 414)
    assert request(server, "/api/meta")[0] == 200


def test_a_foreign_host_header_is_refused(server):
    """Check that a loopback server refuses a request for another host name (a page
    elsewhere cannot drive it through DNS rebinding)."""
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/api/meta", headers={"Host": "evil.example:80"})
    r = conn.getresponse()
    assert r.status == 403 and "localhost" in json.loads(r.read())["error"]
    conn.close()
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/api/meta", headers={"Host": f"localhost:{port}"})
    assert conn.getresponse().status == 200
    conn.close()


def test_ipv6_loopback():
    """Check that the server also listens on ::1, with a bracketed URL."""
    try:
        srv = make_server("::1", 0)
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        assert srv.url.startswith("http://[::1]:")
        assert get_json(srv, "/api/meta")[0] == 200
    finally:
        srv.shutdown()
        srv.close()


def test_busy_server_answers_503(tmp_path):
    """Check that when every work slot is taken a path request gets 503, not a queue."""
    srv = make_server(port=0, max_work=1)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        assert srv.work.acquire(timeout=1)
        try:
            status, r = get_json(srv, "/api/path?function=saddle&optimizer=sgd")
        finally:
            srv.work.release()
        assert status == 503 and "busy" in r["error"]
        assert get_json(srv, "/api/path?function=saddle&optimizer=sgd")[0] == 200
    finally:
        srv.shutdown()
        srv.close()


@pytest.mark.parametrize("lr", [0.05, 0.1, 0.3])
def test_critical_momentum_separates_oscillation_from_monotone_approach(lr):
    """Check mu_c = (1 - sqrt(lr*lam))^2 against the heavy-ball recurrence itself:
    just above mu_c the coordinate changes sign, at or below it never does."""
    lam = 0.1
    mu_c = critical_momentum(lr, lam)

    def signs_change(mu):
        p = Parameter(np.array([1.0]))
        opt = OPTIMIZERS["momentum"]([p], lr=lr, momentum=mu)
        xs = []
        for _ in range(3000):
            p.grad[:] = lam * p.data
            opt.step()
            xs.append(float(p.data[0]))
        return bool(np.any(np.array(xs) < 0))

    assert signs_change(mu_c + 0.02)
    assert not signs_change(mu_c)
    assert not signs_change(mu_c - 0.05)


def test_polyak_settings_shrink_both_directions_at_sqrt_mu():
    """Check that Polyak's heavy ball on the book's bowl converges at rate sqrt(mu)."""
    lr, mu, rate = polyak_momentum(0.1, 2.0)
    p = Parameter(np.array([-7.0, 2.0]))
    opt = OPTIMIZERS["momentum"]([p], lr=lr, momentum=mu)
    for _ in range(200):
        gx, gy = FUNCTIONS["book_quadratic"].grad(*p.data)
        p.grad[:] = (gx, gy)
        opt.step()
    # a double root: error ~ t * rate^t, so the per-step rate over 200 steps is close
    observed = (np.linalg.norm(p.data) / np.hypot(7, 2)) ** (1 / 200)
    assert math.isclose(observed, rate, rel_tol=0.03)
    assert rate < 19 / 21  # faster than plain gradient descent at its best lr


def wait_events(srv, run_id, until, timeout=60.0):
    """Read the SSE stream of run ``run_id`` until ``until(events)`` or the end."""
    host, port = srv.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    conn.request("GET", f"/api/train/events?run={run_id}")
    r = conn.getresponse()
    assert r.status == 200 and r.getheader("Content-Type") == "text/event-stream"
    events, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = r.fp.readline()
        if not line:
            break
        if line.startswith(b"data: "):
            events.extend(json.loads(line[6:]))
            if until(events):
                break
    conn.close()
    return events


def test_training_streams_and_a_second_run_is_refused(server):
    """Check that a tiny run streams steps and epochs and ends 'finished', that a
    second start while it runs is a 409 naming the running run."""
    q = "model=mlp&optimizer=sgd&lr=0.1&momentum=0.9&n_train=200&n_val=50"
    q += "&batch_size=50&epochs=2"
    status, r = get_json(server, "/api/train?" + q, "POST")
    assert status == 202, r
    run = r["run"]
    status, again = get_json(server, "/api/train?" + q, "POST")
    assert status == 409 and f"run {run}" in again["error"]
    events = wait_events(server, run, lambda ev: ev[-1]["type"] == "end")
    steps = [e for e in events if e["type"] == "step"]
    epochs = [e for e in events if e["type"] == "epoch"]
    assert [e["step"] for e in steps] == list(range(1, 9))
    assert len(epochs) == 2 and epochs[-1]["val_acc"] is not None
    assert events[-1]["status"] == "finished" and events[-1]["steps"] == 8
    assert all(0 <= e["batch_acc"] <= 1 for e in steps)
    assert get_json(server, "/api/train/status")[1]["running"] is False


def test_a_reconnecting_stream_resumes_after_the_last_event_id(server):
    """Check that an EventSource reconnecting with Last-Event-ID gets only the events
    after it, not the whole run again."""
    q = "model=mlp&n_train=100&n_val=0&batch_size=50&epochs=2"
    status, r = get_json(server, "/api/train?" + q, "POST")
    assert status == 202, r
    full = wait_events(server, r["run"], lambda ev: ev[-1]["type"] == "end")
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request(
        "GET", f"/api/train/events?run={r['run']}", headers={"Last-Event-ID": "3"}
    )
    body = conn.getresponse().read().decode()
    conn.close()
    again = [e for line in body.splitlines() if line.startswith("data: ")
             for e in json.loads(line[6:])]  # fmt: skip
    assert again == full[3:]


def test_stop_ends_a_run_at_the_next_batch(server):
    """Check that Stop ends a long run soon after it is asked, with status 'stopped'."""
    q = "model=mlp&optimizer=adam&lr=0.001&n_train=2000&n_val=0&batch_size=10&epochs=50"
    status, r = get_json(server, "/api/train?" + q, "POST")
    assert status == 202, r
    run = r["run"]
    wait_events(server, run, lambda ev: sum(e["type"] == "step" for e in ev) >= 3)
    t0 = time.monotonic()
    assert get_json(server, "/api/train/stop", "POST")[1]["stopping"] == run
    events = wait_events(server, run, lambda ev: ev[-1]["type"] == "end")
    waited = time.monotonic() - t0
    end = events[-1]
    assert end["status"] == "stopped"
    assert end["steps"] < r["config"]["steps_total"]
    assert waited < 10.0  # a batch of 10 digits takes milliseconds (measured: < 1 s)


def test_a_diverging_training_run_says_so(server):
    """Check that a run whose loss becomes non-finite ends 'diverged' with its step."""
    q = "model=mlp&optimizer=sgd&lr=10&n_train=500&n_val=0&batch_size=50&epochs=3"
    status, r = get_json(server, "/api/train?" + q, "POST")
    assert status == 202, r
    events = wait_events(server, r["run"], lambda ev: ev[-1]["type"] == "end")
    end = events[-1]
    assert end["status"] == "diverged", end
    assert "step" in end["reason"]


@pytest.mark.parametrize(
    ("query", "message"),
    [("model=resnet", "'model' must be one of"),
     ("optimizer=adam&momentum=0.9", "'momentum' does not apply to adam"),
     ("n_train=4900", r"'n_train' must be an int in \[10, 4000\]"),
     ("batch_size=1&epochs=50&n_train=4000", "at most 20000"),
     ("lr=0", r"'lr' must be a float in \(0, 10\]")],
)  # fmt: skip
def test_bad_training_requests_get_400(server, query, message):
    """Check that a bad training request is refused before anything starts."""
    status, r = get_json(server, "/api/train?" + query, "POST")
    assert status == 400
    assert re.search(message, r["error"]), r["error"]
