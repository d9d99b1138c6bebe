"""The playground page in a real browser (Playwright driving Debian's Chromium).

Skipped where Playwright or Chromium is missing; CI installs both.
"""

from __future__ import annotations

import os
import threading
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

from descentlab.playground import make_server
from descentlab.playground.paths import run_path

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
CHROMIUM = os.environ.get("DESCENTLAB_TEST_CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM}", allow_module_level=True)

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def server():
    srv = make_server(port=0)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Page:
    """A page on the server that records console errors and every request's URL."""

    def __init__(self, browser, server, hash_=""):
        self.ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.ctx.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on(
            "console",
            lambda m: self.errors.append(m.text) if m.type == "error" else None,
        )
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(server.url + hash_)
        self.page.wait_for_function(
            "() => window.__playground && window.__playground.ready", timeout=20_000
        )

    def js(self, expr: str):
        return self.page.evaluate(f"() => {expr}")

    def drawn(self):
        return self.js(
            "window.__playground.drawn.map(d => ({optimizer: d.optimizer, "
            "path: d.path, hp: d.hyperparameters, url: d.url}))"
        )

    def wait_drawn(self, condition: str, timeout=15_000):
        self.page.wait_for_function(
            f"() => {{ const d = window.__playground.drawn; return {condition}; }}",
            timeout=timeout,
        )

    def close(self):
        self.ctx.close()


def library(function, d, steps, start):
    hp = dict(d["hp"])
    r = run_path(function, d["optimizer"], steps=steps, start=start, **hp)
    return r.path


def test_page_loads_draws_the_library_paths_and_asks_only_its_server(browser, server):
    """Check that the default view draws the book's four paths with the library's
    numbers, with no console error and no request to any other host."""
    pg = Page(browser, server)
    try:
        drawn = pg.drawn()
        assert [d["optimizer"] for d in drawn] == ["sgd", "momentum", "adagrad", "adam"]
        state = pg.js("window.__playground.state")
        for d in drawn:
            expected = library(state["f"], d, state["steps"], tuple(state["start"]))
            np.testing.assert_allclose(
                np.array(d["path"]), expected, rtol=0, atol=1e-12
            )
        assert "book_quadratic" in pg.js("location.hash")
        caption = pg.page.inner_text("#caption")
        assert "SGD (lr 0.95)" in caption and "Momentum (lr 0.1, μ 0.9)" in caption
        origin = server.url.rstrip("/")
        foreign = [u for u in pg.requests if not u.startswith(origin + "/")]
        assert not foreign, foreign
        assert not pg.errors, pg.errors
    finally:
        pg.close()


def test_moving_the_lr_slider_redraws_the_path_with_the_apis_numbers(browser, server):
    """Check that pressing an arrow key on the first card's lr slider changes the lr,
    and the drawn path becomes the API's (and the library's) path for the new lr."""
    pg = Page(browser, server)
    try:
        before = pg.drawn()[0]
        slider = pg.page.locator("[data-card] input[data-hp=lr]").first
        slider.focus()
        for _ in range(3):
            slider.press("ArrowLeft")
        new_lr = float(
            pg.page.locator("[data-card] input[data-hp-num=lr]").first.input_value()
        )
        assert new_lr < before["hp"]["lr"]
        pg.wait_drawn(f"d.length && d[0].hyperparameters.lr === {new_lr}")
        after = pg.drawn()[0]
        assert after["path"] != before["path"]
        # the API's numbers, fetched independently by the test
        import json
        import urllib.request

        with urllib.request.urlopen(server.url.rstrip("/") + after["url"]) as r:
            api = json.loads(r.read())
        assert api["hyperparameters"]["lr"] == new_lr
        np.testing.assert_array_equal(np.array(after["path"]), np.array(api["path"]))
        state = pg.js("window.__playground.state")
        expected = library(state["f"], after, state["steps"], tuple(state["start"]))
        np.testing.assert_allclose(
            np.array(after["path"]), expected, rtol=0, atol=1e-12
        )
        pg.page.wait_for_function(
            f"() => location.hash.includes('o=sgd:lr={new_lr}')", timeout=5000
        )
        assert not pg.errors, pg.errors
    finally:
        pg.close()


def test_the_url_hash_round_trips_the_view(browser, server):
    """Check that a changed view (function, start by clicking the map, steps, an added
    optimizer with a schedule) reopens identically from its URL."""
    pg = Page(browser, server)
    try:
        pg.page.select_option("#fn", "himmelblau")
        pg.wait_drawn("d.length && window.__playground.state.f === 'himmelblau'")
        box = pg.page.locator("#overlay").bounding_box()
        pg.page.mouse.click(
            box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.6
        )
        pg.page.select_option("#add-opt", "nadam")
        pg.page.click("#add-btn")
        pg.page.locator("[data-card]").last.locator(
            "button[title='more settings']"
        ).click()
        pg.page.locator("[data-card]").last.locator("select.sched").select_option(
            "cosine"
        )
        pg.wait_drawn("d.length === 5 && d[4].schedule === 'cosine'")
        start = pg.js("window.__playground.state.start")
        assert start != [0.0, -1.0]
        drawn = pg.drawn()
        assert all(d["path"][0] == start for d in drawn)
        pg.page.wait_for_function("() => location.hash.includes('schedule=cosine')")
        url = pg.page.url
        hash_ = urllib.parse.urlsplit(url).fragment
        again = Page(browser, server, "#" + hash_)
        try:
            s1, s2 = (
                pg.js("window.__playground.state"),
                again.js("window.__playground.state"),
            )
            for key in ("f", "steps", "start", "tab"):
                assert s1[key] == s2[key], key
            strip = [{k: c[k] for k in ("name", "hp", "schedule")} for c in s1["cards"]]
            assert strip == [
                {k: c[k] for k in ("name", "hp", "schedule")} for c in s2["cards"]
            ]
            again.wait_drawn("d.length === 5")
            assert again.drawn() == drawn
            assert again.page.inner_text("#caption") == pg.page.inner_text("#caption")
            assert not again.errors, again.errors
        finally:
            again.close()
        assert not pg.errors, pg.errors
    finally:
        pg.close()


def test_divergence_is_marked_and_said(browser, server):
    """Check that the preset with SGD at lr 1.05 shows the step where it diverged."""
    pg = Page(browser, server)
    try:
        pg.page.get_by_role("button", name="Too large: SGD lr 1.05").click()
        pg.wait_drawn("d.length === 1 && d[0].hyperparameters.lr === 1.05")
        step = pg.js("window.__playground.drawn[0].diverged.step")
        status = pg.page.locator("[data-status]").first.inner_text()
        assert f"diverged at step {step}" in status
        assert f"diverges at step {step}" in pg.page.inner_text("#caption")
        assert not pg.errors, pg.errors
    finally:
        pg.close()


def test_live_training_streams_points_and_stop_stops_it(browser, server):
    """Check that Train streams a tiny run to its end, and that Stop ends a long run
    (started with tiny batches through the page's own start function)."""
    pg = Page(browser, server, "#tab=train")
    try:
        assert pg.page.locator("#panel-train").is_visible()
        pg.page.locator("#t-ntrain").focus()
        pg.page.locator("#t-ntrain").press("Home")  # 200 digits
        pg.page.locator("#t-epochs").focus()
        pg.page.locator("#t-epochs").press("Home")  # 1 epoch
        pg.page.click("#t-start")
        pg.page.wait_for_function(
            "() => { const r = window.__playground.runs; "
            "return r.length === 1 && r[0].status === 'finished'; }",
            timeout=30_000,
        )
        run = pg.js("window.__playground.runs[0]")
        assert len(run["steps"]) == run["cfg"]["steps_total"] >= 3
        assert run["epochs"] and run["epochs"][-1]["val_acc"] is not None
        pg.js(
            "window.__playground.startRun({n_train: 2000, batch_size: 10, epochs: 50, "
            "n_val: 50})"
        )
        pg.page.wait_for_function(
            "() => { const r = window.__playground.runs; "
            "return r.length === 2 && r[1].steps.length >= 3; }",
            timeout=30_000,
        )
        # a second page (a reload, another tab) shows the run that is training
        other = Page(browser, server, "#tab=train")
        try:
            other.page.wait_for_function(
                "() => window.__playground.runs.length === 1", timeout=10_000
            )
            assert other.js("window.__playground.runs[0].id") == pg.js(
                "window.__playground.runs[1].id"
            )
            assert other.page.locator("#t-stop").is_enabled()
        finally:
            other.close()
        pg.page.click("#t-stop")
        pg.page.wait_for_function(
            "() => window.__playground.runs[1].status === 'stopped'", timeout=10_000
        )
        run = pg.js("window.__playground.runs[1]")
        assert 3 <= len(run["steps"]) < run["cfg"]["steps_total"]
        assert "stopped" in pg.page.locator("[data-run]").nth(1).inner_text()
        assert pg.page.locator("#t-start").is_enabled()
        assert not pg.errors, pg.errors
    finally:
        pg.close()
