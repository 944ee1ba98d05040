"""Browser fixtures: one real headless Chromium (Debian's, driven by playwright) per
session, a fresh context per test, screenshots of each step in ``test-artifacts/``.

The pages need the built front end (``static/*.js``); ``make test`` builds it, and this
conftest builds it once if it is missing and npm is available.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "static"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
BUNDLES = ("widget.js", "room.js", "host.js", "store.js", "stats.js")


def _ensure_frontend() -> None:
    if all((STATIC / name).is_file() for name in BUNDLES):
        return
    npm = shutil.which("npm")
    if npm is None or not (ROOT / "widgets" / "node_modules").is_dir():
        pytest.skip("the front end is not built (run `make frontend`)")
    subprocess.run([npm, "run", "--silent", "build"], cwd=ROOT / "widgets", check=True, timeout=120)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium, headless; the whole session shares it (contexts isolate tests)."""
    if not HAVE_CHROMIUM:
        pytest.skip("chromium is not installed (apt-get install chromium; `make browsers`)")
    _ensure_frontend()
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


class Steps:
    """Numbered screenshots of one test: ``await steps.shot(page, "slots")``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)

    async def shot(self, page: Page, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        await page.screenshot(path=str(path), full_page=True, animations="disabled")
        return path


@pytest.fixture
def steps(request: pytest.FixtureRequest) -> Steps:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    return Steps(ARTIFACTS / safe)


ContextFactory = Callable[..., Awaitable[BrowserContext]]


@pytest.fixture
async def new_context(browser: Browser) -> AsyncIterator[ContextFactory]:
    """Browser contexts (phone-sized, zh-CN by default); all closed at the end.

    Page errors (uncaught exceptions) and CSP violations fail the test: the pages must
    work under their own Content-Security-Policy."""
    contexts: list[BrowserContext] = []
    problems: list[str] = []

    async def make(**options: Any) -> BrowserContext:
        options.setdefault("viewport", {"width": 360, "height": 780})
        options.setdefault("locale", "zh-CN")
        options.setdefault("device_scale_factor", 1)
        ctx = await browser.new_context(**options)
        ctx.on("weberror", lambda err: problems.append(f"page error: {err.error}"))
        ctx.on(
            "console",
            lambda msg: (
                problems.append(f"console: {msg.text}")
                if "Content Security Policy" in msg.text
                else None
            ),
        )
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        await ctx.close()
    assert not problems, problems
