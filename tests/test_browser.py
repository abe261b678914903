"""The web UI in a real browser: Debian's headless Chromium driven by Playwright.

Each test types, clicks and uploads as a person would, and checks what the page
shows. The browser can resolve no host but 127.0.0.1, and every test also checks
that the page asked nothing of any other host. Needs ``apt-get install chromium
fonts-noto-cjk``; skipped (with that reason) where /usr/bin/chromium is absent.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from browser_helpers import BROWSER_MARKS, shots

pytestmark = BROWSER_MARKS

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
#: Waits for the app (ms): a model call on 2 busy cores, or a whole evaluation.
ANSWER_TIMEOUT_MS = 60_000
EVALUATION_TIMEOUT_MS = 180_000
QUESTION = "社区工作者的待遇怎么保障？"
UNANSWERABLE = "How do I bake sourdough bread?"


@pytest.fixture(scope="module")
def served(essay):
    """URL of the app (UI + JSON API) over the essay, started once for this module."""
    from qa.web.server import create_app, start

    server = start(create_app(essay))
    yield server.url
    server.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = shots.launch_chromium(p)
        yield b
        b.close()


@pytest.fixture
def page(browser, served):
    """A fresh page on the app; after the test, no request may have gone to another host."""
    context = browser.new_context(viewport=shots.VIEWPORT, locale="zh-CN")
    context.set_default_timeout(ANSWER_TIMEOUT_MS)
    pg = context.new_page()
    requests: list[str] = []
    pg.on("request", lambda r: requests.append(r.url))
    pg.goto(served)
    pg.locator("#qa-question textarea").wait_for()
    yield pg
    context.close()
    outside = [u for u in requests if urlparse(u).scheme in ("http", "https", "ws", "wss")
               and urlparse(u).hostname not in LOCAL_HOSTS]
    assert not outside, f"the page asked other hosts: {outside}"


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


# -- Ask -------------------------------------------------------------------------------------------------------------

def test_header_says_what_is_served(page, essay):
    header = page.locator("#qa-header").inner_text()
    assert essay.documents[0].title in header
    assert f"{len(essay.passages)} passages" in header and "model:" in header


def test_ask_shows_cards_with_breadcrumb_highlight_and_confidence(page, essay):
    expected = essay.ask(QUESTION)
    started = time.perf_counter()
    shots.ask_in_page(page, QUESTION)
    print(f"question to cards in the browser: {(time.perf_counter() - started) * 1000:.0f} ms")
    cards = page.locator("#qa-results .qa-card")
    assert cards.count() == len(expected.hits)
    first = cards.first
    top = expected.hits[0]
    assert first.get_attribute("data-passage-id") == top.passage_id
    assert first.locator(".qa-rank").inner_text() == "#1"
    assert top.heading_path[-1] in first.locator(".qa-breadcrumb").inner_text()
    marks = first.locator("mark").all_inner_texts()
    assert marks == top.highlighted_text and marks[0].strip()
    badge = first.locator(".qa-conf").inner_text()
    assert "%" in badge and any(word in badge for word in ("high", "medium", "low"))
    table = first.locator(".qa-scores table")
    assert not table.is_visible(), "per-leg scores are on demand"
    first.locator(".qa-scores summary").click()
    assert table.is_visible() and "dense" in table.inner_text()
    assert page.locator("#qa-results .qa-notice-warning").count() == 0


def test_k_slider_sets_the_number_of_cards(page):
    shots.ask_in_page(page, QUESTION, k=2)
    assert page.locator("#qa-results .qa-card").count() == 2


def test_unanswerable_question_is_flagged_and_nearest_passages_marked(page, essay):
    shots.ask_in_page(page, UNANSWERABLE)
    found = essay.ask(UNANSWERABLE).found
    notice = page.locator("#qa-results .qa-notice-warning")
    assert notice.count() == (0 if found else 1)
    if not found:
        assert "does not seem to answer" in notice.inner_text()
        nearest = page.locator("#qa-results .qa-card.qa-nearest")
        assert nearest.count() == page.locator("#qa-results .qa-card").count() > 0
        assert "nearest only" in nearest.first.inner_text()


def test_empty_question_gets_a_friendly_message(page):
    page.locator("#qa-ask").click()
    notice = page.locator("#qa-results .qa-notice")
    notice.filter(has_text="Please type a question").wait_for()
    assert page.locator("#qa-results .qa-card").count() == 0


def test_over_long_question_gets_the_limit_message_not_a_silent_cut(page, essay):
    limit = essay.settings.max_question_chars
    box = page.locator("#qa-question textarea")
    box.fill("党" * (limit + 1))
    assert len(box.input_value()) == limit + 1, "the box must not cut the question"
    page.locator("#qa-ask").click()
    notice = page.locator("#qa-results .qa-notice")
    notice.filter(has_text=f"the limit is {limit:,}").wait_for()
    assert page.locator("#qa-results .qa-card").count() == 0


TOP_PASSAGE_IS = "id => document.querySelector('#qa-results .qa-card')?.dataset.passageId === id"


def test_enter_and_example_questions_ask(page, essay):
    from qa.web import ui

    example = ui.EXAMPLES[2]  # traditional Chinese
    first, second = essay.ask(QUESTION).hits[0].passage_id, essay.ask(example).hits[0].passage_id
    assert first != second, "pick questions with different answers, or this test cannot tell them apart"
    box = page.locator("#qa-question textarea")
    box.fill(QUESTION)
    box.press("Enter")
    page.wait_for_function(TOP_PASSAGE_IS, arg=first)
    page.get_by_role("button", name=example).click()
    page.wait_for_function("q => document.querySelector('#qa-question textarea').value === q", arg=example)
    page.wait_for_function(TOP_PASSAGE_IS, arg=second)
    assert page.locator("#qa-results mark").count() > 0


# -- Outline -----------------------------------------------------------------------------------------------------------

def test_outline_shows_the_heading_tree_and_opens_passages(page, essay):
    from qa import present

    open_tab(page, "目录 Outline")
    tree = page.locator("#qa-outline .qa-outline")
    tree.wait_for()
    [root] = present.outline(essay.passages)
    text = tree.inner_text()
    for node in root.children:
        assert node.title in text
    leaf = next(n for n in root.walk() if n.depth >= 2 and not n.children)
    item = page.locator(f'#qa-outline details[data-key="{leaf.key}"]')
    first_passage = item.locator(".qa-passage").first
    assert not first_passage.is_visible()
    item.locator("summary").first.click()
    assert first_passage.is_visible()
    assert leaf.passages[0].text[:20] in first_passage.inner_text()


def test_choosing_a_heading_shows_its_passages(page, essay):
    from qa import present

    open_tab(page, "目录 Outline")
    [root] = present.outline(essay.passages)
    node = next(n for n in root.children if n.children)  # a section with subsections
    page.locator("#qa-heading input").click()
    page.get_by_role("option", name=node.title).first.click()
    section = page.locator(f'#qa-section .qa-section[data-key="{node.key}"]')
    section.wait_for()
    assert section.locator(".qa-passage").count() == node.size
    assert node.title in section.locator(".qa-section-title").inner_text()


# -- Evaluate ----------------------------------------------------------------------------------------------------------

def _questions_file(folder: Path) -> Path:
    path = folder / "ui-questions.jsonl"
    rows = [{"id": "u1", "question": QUESTION, "evidence": ["完善报酬待遇常规增长机制"]},
            {"id": "u2", "question": "怎样整合党建信息平台？", "evidence": ["政务网络服务平台"]},
            {"id": "u3", "question": UNANSWERABLE, "evidence": []}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _upload(page, path: Path) -> None:
    open_tab(page, "评估 Evaluate")
    page.locator("#qa-eval-file input[type=file]").set_input_files(str(path))
    # uploaded (not just chosen): the widget then links to the server's copy of the file
    page.locator(f"#qa-eval-file a[download='{path.name}']").first.wait_for()
    page.locator("#qa-eval-run").click()


def test_evaluate_upload_shows_metrics_rows_plot_and_download(page, tmp_path):
    _upload(page, _questions_file(tmp_path))
    metrics = page.locator("#qa-eval-metrics .qa-metrics")
    metrics.wait_for(timeout=EVALUATION_TIMEOUT_MS)
    text = metrics.inner_text()
    assert "Hit@1" in text and "MRR@10" in text
    rows = page.locator("#qa-eval-rows .qa-rows tbody tr")
    rows.first.wait_for()
    assert rows.count() == 3
    page.locator("#qa-eval-plot img").first.wait_for()
    link = page.locator("#qa-eval-download a").first
    link.wait_for()
    assert ".zip" in (link.get_attribute("href") or "") + link.inner_text()


def test_evaluate_malformed_file_gives_a_clear_message(page, tmp_path):
    bad = tmp_path / "broken.jsonl"
    bad.write_text("this is not a questions file\n", encoding="utf-8")
    _upload(page, bad)
    error = page.locator("#qa-eval-metrics .qa-notice-error")
    error.wait_for(timeout=EVALUATION_TIMEOUT_MS)
    assert "Cannot evaluate this file" in error.inner_text()


def test_upload_over_the_size_limit_is_refused_with_a_message(page, tmp_path):
    from qa.web import ui

    big = tmp_path / "too-big.jsonl"
    line = b'{"id": "x", "question": "x", "evidence": []}\n'
    big.write_bytes(line * (ui.MAX_UPLOAD_BYTES // len(line) + 1))
    open_tab(page, "评估 Evaluate")
    page.locator("#qa-eval-file input[type=file]").set_input_files(str(big))
    page.get_by_text("exceed the maximum allowed size").first.wait_for()
    assert page.locator(f"#qa-eval-file a[download='{big.name}']").count() == 0


# -- the screenshot script -------------------------------------------------------------------------------------------

def test_screenshot_script_writes_a_png(browser, served, tmp_path):
    out = shots.screenshot_with(browser, served, tmp_path / "ask.png", QUESTION, k=2)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
