"""Real Chromium (Debian's package) driven by Playwright, on loopback only.

Every browser test runs inside a network namespace that has only loopback (scripts/test
provides it; see /work/shared/design/browser-testing.md), so Chromium, which inherits it,
cannot reach anything but the node under test.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
BASE_FLAGS = [
    "--headless=new",
    "--allow-loopback-in-peer-connection",
    "--disable-background-networking",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--disable-dev-shm-usage",
]
FAKE_UI = "--use-fake-ui-for-media-stream"  # grant camera and microphone without a prompt
FAKE_DEVICES = "--use-fake-device-for-media-stream"  # 640x480 at 20 fps, a beeping mic

BrowserFactory = Callable[..., Awaitable[Browser]]


def chromium_path() -> str | None:
    for path in CHROMIUM:
        if Path(path).exists():
            return path
    return shutil.which("chromium")


@contextlib.asynccontextmanager
async def plain_chromium() -> AsyncIterator[Browser]:
    """Headless Chromium without fake devices, for pages that need none (gate reports).
    Fails when Chromium is missing or the network namespace is not loopback-only."""
    executable = chromium_path()
    if executable is None:
        pytest.fail("Chromium is not installed: run scripts/setup --test")
    assert socket.if_nameindex() == [(1, "lo")], "run in a loopback-only namespace (scripts/test)"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, headless=True,
                                                   args=BASE_FLAGS, timeout=20_000)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture(autouse=True)
def _loopback_only() -> None:
    """Refuse to run anywhere but in a namespace whose only interface is loopback."""
    assert socket.if_nameindex() == [(1, "lo")], (
        "browser tests must run in a loopback-only network namespace: use scripts/test, or "
        "unshare -n sh -c 'ip link set lo up && exec .venv/bin/python -m pytest tests/browser'"
    )


@pytest.fixture
async def launch() -> AsyncIterator[BrowserFactory]:
    """Start Chromium: fake camera/mic and auto-granted permission unless told otherwise."""
    executable = chromium_path()
    if executable is None:
        pytest.fail("Chromium is not installed: run scripts/setup --test")
    async with async_playwright() as playwright:
        browsers: list[Browser] = []

        async def start(*, fake_ui: bool = True, fake_devices: bool = True) -> Browser:
            args = list(BASE_FLAGS)
            if fake_ui:
                args.append(FAKE_UI)
            if fake_devices:
                args.append(FAKE_DEVICES)
            browser = await playwright.chromium.launch(
                executable_path=executable, headless=True, args=args, timeout=20_000
            )
            browsers.append(browser)
            return browser

        yield start
        for browser in browsers:
            await browser.close()


@pytest.fixture
async def browser(launch: BrowserFactory) -> Browser:
    return await launch()


@pytest.fixture
def page_errors() -> list[str]:
    """Uncaught errors of every page opened with `new_page` (checked at teardown)."""
    return []


@pytest.fixture
async def new_page(
    browser: Browser, page_errors: list[str]
) -> AsyncIterator[Callable[..., Awaitable[Page]]]:
    async def open_page(
        target: Browser | None = None, *, width: int = 1280, height: int = 800
    ) -> Page:
        context = await (target or browser).new_context(
            viewport={"width": width, "height": height}, reduced_motion="reduce"
        )
        page = await context.new_page()
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        return page

    yield open_page
    assert not page_errors, f"uncaught errors in the page: {page_errors}"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
