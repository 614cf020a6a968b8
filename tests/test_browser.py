"""The HTML pages rendered in a real headless Chromium (Debian's ``chromium``).

A real grading's report.html and a comparison's compare.html are opened from disk
with every network request refused; each must render without a console error or a
fetch, be long enough to hold its sections, show the texts a reader looks for, and
leave a full-page screenshot (kept in the test's tmp dir for a human to look at).
Chromium is installed by the fixture when missing (root + apt); only where that is
impossible are these tests skipped, with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from report_fixtures import make_report, with_statuses

from dskata.report import write_all
from dskata.report.compare import build, write_compare

ROOT = Path(__file__).parents[1]
LIFO = ROOT / "graders" / "worker_pool" / "mutants" / "lifo.py"
NO_LOCK = ROOT / "graders" / "rate_limiter" / "mutants" / "no_lock.py"
# The flags the machine notes say Chromium needs as root in a container.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _install_chromium() -> str | None:
    """Returns why Chromium cannot be had, or None once it is on PATH."""
    if shutil.which("chromium"):
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "chromium is not installed and this user cannot apt-get install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
        if done.returncode != 0:
            return f"{' '.join(argv)} failed: {done.stderr.strip()[-300:]}"
    return None if shutil.which("chromium") else "apt-get installed chromium, yet it is not on PATH"


# Module scope: Playwright's sync API keeps an asyncio loop running in this thread
# while it is open, which would break every later test that calls asyncio.run().
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    why = _install_chromium()
    if why is not None:
        pytest.skip(f"NO HEADLESS BROWSER, HTML NOT CHECKED: {why}")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (dev extra) missing")
    with (
        tempfile.TemporaryDirectory(prefix="dskata-chromium-") as profile,
        sync_api.sync_playwright() as p,
    ):
        context = p.chromium.launch_persistent_context(
            profile,  # a new, empty --user-data-dir
            executable_path=shutil.which("chromium"),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()


@dataclass
class Rendered:
    text: str
    height: int
    errors: list[str] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)
    print_visible: bool = False


def render(browser: Any, page_path: Path, screenshot: Path) -> Rendered:
    page = browser.new_page()
    seen = Rendered("", 0)
    page.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.errors.append(str(e)))

    def refuse(route: Any) -> None:
        url = route.request.url
        if url.startswith("file://"):
            route.continue_()
        else:
            seen.fetched.append(url)
            route.abort()

    page.route("**/*", refuse)
    page.goto(page_path.as_uri(), wait_until="load")
    seen.text = page.inner_text("body")
    seen.height = page.evaluate("document.documentElement.scrollHeight")
    page.screenshot(path=str(screenshot), full_page=True)
    page.emulate_media(media="print")
    # On paper the collapsed passed checks must print too.
    seen.print_visible = page.evaluate(
        "() => [...document.querySelectorAll('details table')]"
        ".every(t => t.getBoundingClientRect().height > 0)"
    )
    page.close()
    return seen


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def assert_non_trivial(shot: Path, rendered: Rendered, min_height: int) -> None:
    assert rendered.errors == [], rendered.errors
    assert rendered.fetched == [], rendered.fetched
    assert rendered.height >= min_height
    width, height = _png_size(shot)
    assert width >= 1000 and height >= min_height
    assert shot.stat().st_size > 40_000  # text, tables and charts, not a blank page


def test_a_real_report_renders_in_chromium(browser: Any, tmp_path: Path) -> None:
    out = tmp_path / "lifo"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dskata",
            "grade",
            LIFO,
            "--exercise",
            "worker_pool",
            "--parts",
            "1",
            "--check",
            "POOL-FIFO",
            "--check",
            "POOL-BOUND",
            "--out",
            out,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    shot = tmp_path / "report.png"
    rendered = render(browser, out / "report.html", shot)
    assert_non_trivial(shot, rendered, 1200)
    for text in (
        "lifo.py",
        "worker_pool",
        "Points by dimension",
        "What did not pass",
        "POOL-FIFO",
        "To ask in the debrief",
        "Replay this check",
        "What this report does not measure",
        "1 passed check",
    ):
        assert text in rendered.text, text
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "rule broken" in html and "job 4</text>" in html  # the timeline of the FIFO bug
    assert rendered.print_visible


def test_a_comparison_renders_in_chromium(browser: Any, tmp_path: Path) -> None:
    reports = [
        make_report(),
        with_statuses(make_report(submission="bob"), RL_REDIS_CUT="passed"),
        with_statuses(make_report(submission="carol"), RL_THREADS="passed", RL_TESTS="passed"),
    ]
    reports[1].kit_version = "0.2.0"  # a warning the page must show
    loaded = []
    for report in reports:
        folder = tmp_path / "reports" / report.submission
        write_all(report, folder)
        loaded.append((folder / "report.json", report))
    write_compare(build(loaded, out_dir=tmp_path), tmp_path)
    shot = tmp_path / "compare.png"
    rendered = render(browser, tmp_path / "compare.html", shot)
    assert_non_trivial(shot, rendered, 900)
    for text in (
        "Committee comparison",
        "not all comparable",
        "kit version",
        "Ranking",
        "Check by check",
        "carol",
        "bob",
        "alice",
        "RL-THREADS",
    ):
        assert text in rendered.text, text
    assert rendered.text.index("carol") < rendered.text.index("alice")
    # Each candidate's own page opens from the table, and renders too.
    shot = tmp_path / "alice.png"
    assert_non_trivial(shot, render(browser, tmp_path / "reports/alice/report.html", shot), 1200)
