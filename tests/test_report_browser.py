"""The report page in a real browser: Playwright driving Debian's Chromium.

The page is built from a cheap subset (two real quick experiments) so that the
test costs seconds; it is opened from disk (file://) as a reader would. Skips
when Playwright or Chromium is absent; CI installs both.
"""

import json
import os
import shutil
from pathlib import Path

import pytest

from descentlab.report import build_report

sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright")

CHROMIUM = os.environ.get("DESCENTLAB_TEST_CHROMIUM") or shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM or not Path(CHROMIUM).exists(), reason="needs Debian's chromium"
)
NAMES = ["adagrad_step", "weight_sensitivity"]  # two of the cheapest experiments
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def page_dir(tmp_path_factory, quick_run):
    """The page of two real quick runs (shared with their own tests), built into a
    folder that holds the runs too, so that every file it needs is inside it."""
    out = tmp_path_factory.mktemp("browser") / "report"
    for name in NAMES:
        shutil.copytree(quick_run(name)["out"], out / name)
    results = {n: {**quick_run(n), "out": str((out / n).resolve())} for n in NAMES}
    build_report(results, out, info={"size": "quick", "seed": 0})
    return out


def test_page_loads_every_image_without_errors_or_outside_requests(page_dir):
    """Check every <img> decodes, no error is logged, no request leaves the folder."""
    index = (page_dir / "index.html").resolve()
    root = page_dir.resolve().as_uri() + "/"
    requests, errors = [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.on(
                "console",
                lambda m: errors.append(m.text) if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(index.as_uri(), wait_until="load")
            page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            page.wait_for_load_state("networkidle")
            images = page.eval_on_selector_all(
                "img",
                "els => els.map(e => [e.getAttribute('src'), e.complete, "
                "e.naturalWidth, e.alt])",
            )
            banner = page.inner_text("aside.banner")
        finally:
            browser.close()
    expected = sum(
        len(json.loads((page_dir / n / f"{n}.json").read_text())["figures"])
        for n in NAMES
    )
    assert len(images) == expected >= 2, images
    for src, complete, width, alt in images:
        assert complete and width > 0, f"{src} did not load"
        assert alt.strip(), f"{src} has no alt text"
    assert not errors, errors
    outside = [u for u in requests if not u.startswith(root)]
    assert not outside, outside
    assert any(u.endswith(".png") for u in requests)
    assert "size quick" in banner
