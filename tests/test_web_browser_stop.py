"""The Evaluate tab in a real browser: Stop, or closing the page, ends a running evaluation on the server
(its slot freed, its upload deleted). Headless Chromium via Playwright, like ``tests/test_browser.py``;
the app runs over the essay on the fake embedder, its evaluation replaced by one that runs until stopped."""

from __future__ import annotations

from pathlib import Path

import pytest

from browser_helpers import BROWSER_MARKS, shots
from test_web_evaluation_cancel import (WAIT_S, TrackedEndlessEvaluation, assert_stopped_and_cleaned,
                                        evaluation_running, jsonl_upload)
from test_web_evaluation_cancel import served  # noqa: F401  (the same app fixture)

pytestmark = BROWSER_MARKS


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = shots.launch_chromium(p)
        yield b
        b.close()


def start_evaluation(browser, url: str, fake: TrackedEndlessEvaluation, upload: Path):
    """A page that uploaded ``upload`` and pressed Run; returns (context, page) once the run shows progress."""
    context = browser.new_context(viewport=shots.VIEWPORT, locale="zh-CN")
    context.set_default_timeout(WAIT_S * 1000)
    page = context.new_page()
    page.goto(url)
    page.get_by_role("tab", name="评估 Evaluate").click()
    page.locator("#qa-eval-file input[type=file]").set_input_files(str(upload))
    page.locator(f"#qa-eval-file a[download='{upload.name}']").first.wait_for()
    page.locator("#qa-eval-run").click()
    page.get_by_text("Press Stop to end it").first.wait_for()
    assert fake.started.is_set() and evaluation_running(url)
    return context, page


def test_the_stop_button_ends_the_run(served, browser, tmp_path):
    url, fake = served
    context, page = start_evaluation(browser, url, fake, jsonl_upload(tmp_path))
    page.locator("#qa-eval-stop").click()
    assert_stopped_and_cleaned(url, fake)
    context.close()


def test_closing_the_page_ends_the_run(served, browser, tmp_path):
    url, fake = served
    context, _ = start_evaluation(browser, url, fake, jsonl_upload(tmp_path))
    context.close()  # the user closed the tab
    assert_stopped_and_cleaned(url, fake)
