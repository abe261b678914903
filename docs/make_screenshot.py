"""Make ``docs/screenshot-ask.png``: the Ask tab answering a Chinese question, in headless Chromium.

    python docs/make_screenshot.py [--out docs/screenshot-ask.png] [--question 社区工作者的待遇怎么保障？]

Serves the app over the bundled essay on a free local port, drives Debian's
Chromium (``apt-get install chromium fonts-noto-cjk``) with Playwright, and saves
the page. The browser may reach 127.0.0.1 only. The browser helpers here are also
used by ``tests/test_browser.py``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "docs" / "screenshot-ask.png"
DEFAULT_QUESTION = "社区工作者的待遇怎么保障？"
DEFAULT_K = 3
CHROMIUM = Path("/usr/bin/chromium")
#: Headless, offline Chromium: every host name but the local ones fails to resolve.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]
VIEWPORT = {"width": 1280, "height": 1150}
#: How long to wait for the app to answer (ms): a cold model on a busy machine can take seconds.
ANSWER_TIMEOUT_MS = 60_000


def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium, headless and offline, through Playwright."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def ask_in_page(page: Any, question: str, k: int | None = None) -> None:
    """Type a question in the Ask tab (and set k), press Ask and wait for the answer cards or a notice."""
    if k is not None:
        box = page.locator("#qa-k input[type=number]")
        box.fill(str(k))
        box.press("Enter")
    page.locator("#qa-question textarea").fill(question)
    page.locator("#qa-ask").click()
    page.locator("#qa-results .qa-answer, #qa-results .qa-notice-warning, #qa-results .qa-notice-error") \
        .first.wait_for(timeout=ANSWER_TIMEOUT_MS)


def screenshot_with(browser: Any, url: str, out: Path, question: str = DEFAULT_QUESTION, k: int = DEFAULT_K) -> Path:
    """With a running browser: open the app at ``url``, ask ``question`` and save a PNG of the page to ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport=VIEWPORT, locale="zh-CN")
    try:
        page.set_default_timeout(ANSWER_TIMEOUT_MS)
        page.goto(url)
        page.locator("#qa-question textarea").wait_for()
        ask_in_page(page, question, k)
        page.locator("#qa-results .qa-card").first.wait_for()
        page.evaluate("document.fonts.ready.then(() => true)")
        page.mouse.move(0, 0)
        page.screenshot(path=str(out), full_page=False)
    finally:
        page.close()
    return out


def screenshot_ask(url: str, out: Path, question: str = DEFAULT_QUESTION, k: int = DEFAULT_K) -> Path:
    """Start Chromium, take the Ask tab's screenshot (see :func:`screenshot_with`), stop Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            return screenshot_with(browser, url, out, question, k)
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    """Serve the app, take the screenshot, stop the app."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--question", default=DEFAULT_QUESTION)
    parser.add_argument("-k", type=int, default=DEFAULT_K)
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"make_screenshot: {CHROMIUM} not found; install it with: apt-get install chromium fonts-noto-cjk",
              file=sys.stderr)
        return 1
    sys.path.insert(0, str(ROOT))
    from qa import Settings
    from qa.web.server import create_app, load_assistant, start

    server = start(create_app(load_assistant(None, Settings())))
    try:
        path = screenshot_ask(server.url, args.out, args.question, args.k)
    finally:
        server.close()
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
