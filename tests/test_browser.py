"""The review app in a real browser: Playwright drives Debian's headless Chromium against the
app served by uvicorn on 127.0.0.1 (a free port), over a store of real episodes.

Skipped when Chromium (/usr/bin/chromium) or Playwright is missing, except under CI (env
``CI`` set), where that fails. ``PROCTOR_SCREENSHOT=1`` saves the report page's screenshot to
docs/review-report.png (otherwise to the test's tmp folder).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from review_fixtures import PASSWORD, Rows, build_store

from proctor.live.db import LiveStore
from proctor.review import ReviewSettings, create_app, hash_password

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
DOCS = Path(__file__).resolve().parent.parent / "docs"


def _need_browser() -> None:
    missing = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "playwright is not installed (pip install playwright)"
    if missing is None and not CHROMIUM.exists():
        missing = f"{CHROMIUM} is missing (apt-get install chromium)"
    if missing is not None:
        if os.environ.get("CI") or os.environ.get("PROCTOR_REQUIRE_SERVICES"):
            pytest.fail(f"CI needs the browser test: {missing}")
        pytest.skip(missing)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, LiveStore, Rows]]:
    import uvicorn

    store, rows = build_store(tmp_path / "live.sqlite")
    settings = ReviewSettings(
        database=tmp_path / "live.sqlite", users={"alice": hash_password(PASSWORD)}
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", store, rows
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_review_in_a_browser(served: tuple[str, LiveStore, Rows], tmp_path: Path) -> None:
    _need_browser()
    from playwright.sync_api import expect, sync_playwright

    base, store, rows = served
    rid = rows.harmful
    shot = (
        DOCS / "review-report.png"
        if os.environ.get("PROCTOR_SCREENSHOT") == "1"
        else (tmp_path / "review-report.png")
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.set_default_timeout(20_000)
            page.goto(f"{base}/")
            assert page.url.startswith(f"{base}/login")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page.locator("h1")).to_have_text("Review queue")
            expect(page.locator(".counts strong")).to_have_text("3")

            page.goto(f"{base}/metrics")
            awaiting = page.locator("tr[data-metric=awaiting_review] td").first
            expect(awaiting).to_have_text("3")

            page.goto(f"{base}/")
            page.click(f"a[href='/reports/{rid}']")
            expect(page.locator("h1")).to_contain_text(f"Report #{rid}")
            expect(page.locator("#claims tbody tr")).not_to_have_count(0)
            expect(page.locator(".verdict")).to_have_count(2)
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000

            page.fill("textarea[name=note]", "The effect of X1 on X0 is misread.")
            page.click("button[value=reject]")
            expect(page.locator(".review .decision")).to_have_text("rejected")
            expect(page.locator(".review .reviewer")).to_have_text("alice")
            expect(page.locator("form.decide")).to_have_count(0)
            [review] = store.reviews(rid)
            assert (review.reviewer, review.decision) == ("alice", "reject")
            assert review.note == "The effect of X1 on X0 is misread."

            page.goto(f"{base}/metrics")
            expect(page.locator("tr[data-metric=reviewed] td").first).to_have_text("1")
            expect(page.locator("tr[data-metric=awaiting_review] td").first).to_have_text("2")
            expect(page.locator("tr[data-metric=human_catch_rate] td").first).to_have_text(
                "100% (n=1)"
            )
        finally:
            browser.close()
