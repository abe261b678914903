"""The Documents tab in a real browser (Playwright + Debian's Chromium): upload a Word file, see it listed,
ask what only it says, remove it, ask again. The server runs the fake embedder (the lexical leg finds the
fact), so the test checks the tab and the swap of the served collection, not the model."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest

from browser_helpers import BROWSER_MARKS, shots

pytestmark = BROWSER_MARKS

TIMEOUT_MS = 60_000
DOCX_NAME = "蓝鲸计划通知.docx"
DOC_ID = "蓝鲸计划通知"
QUESTION = "蓝鲸计划的年度预算是多少？"


def _docx(folder: Path) -> Path:
    """A Word file with a heading and a fact the essay does not hold."""
    import docx

    d = docx.Document()
    d.add_heading("关于蓝鲸计划的通知", level=0)
    d.add_heading("一、项目概况", level=1)
    d.add_paragraph("蓝鲸计划的年度预算是三百万元，由青松办公室负责执行。")
    d.add_heading("二、时间安排", level=1)
    d.add_paragraph("蓝鲸计划于明年三月启动，为期两年。")
    path = folder / DOCX_NAME
    d.save(str(path))
    return path


@pytest.fixture
def served(tmp_path):
    """URL of the app over the default collection (created by the first upload), with the fake model."""
    from qa import Assistant, Settings
    from qa.collection import Collection
    from qa.embed import FakeEmbedder
    from qa.web.server import create_app, start

    settings = Settings(model="fake", index_dir=tmp_path / "index", cache_dir=tmp_path / "cache")
    embedder = FakeEmbedder()
    collection = Collection("default", settings, embedder=embedder)
    server = start(create_app(Assistant(settings=settings, embedder=embedder), collection))
    yield server.url
    server.close()


@pytest.fixture
def page(served):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = shots.launch_chromium(p)
        context = browser.new_context(viewport=shots.VIEWPORT, locale="zh-CN")
        context.set_default_timeout(TIMEOUT_MS)
        pg = context.new_page()
        requests: list[str] = []
        pg.on("request", lambda r: requests.append(r.url))
        pg.goto(served)
        pg.locator("#qa-question textarea").wait_for()
        yield pg
        context.close()
        browser.close()
    outside = [u for u in requests if urlparse(u).scheme in ("http", "https", "ws", "wss")
               and urlparse(u).hostname not in ("127.0.0.1", "localhost")]
    assert not outside, f"the page asked other hosts: {outside}"


def _ask(page) -> list[str]:
    """Ask QUESTION in the Ask tab; the passage ids of the cards."""
    page.get_by_role("tab", name="提问 Ask").click()
    # mark the answer shown so far: the wait below is for the new answer's (new) element
    page.locator("#qa-results .qa-answer").evaluate_all("es => es.forEach(e => e.dataset.stale = '1')")
    shots.ask_in_page(page, QUESTION, k=5)
    page.locator("#qa-results .qa-answer:not([data-stale])").wait_for()
    return [c.get_attribute("data-passage-id") for c in page.locator("#qa-results .qa-card").all()]


def test_upload_ask_remove_ask_again(page, tmp_path):
    before = _ask(page)
    assert before and not any(pid.startswith(DOC_ID) for pid in before)

    page.get_by_role("tab", name="文档 Documents").click()
    listing = page.locator("#qa-doc-list")
    assert "essay_page.txt" in listing.inner_text()
    page.locator("#qa-doc-files input[type=file]").set_input_files(str(_docx(tmp_path)))
    page.locator(f"#qa-doc-files a[download='{DOCX_NAME}']").first.wait_for()  # uploaded, not just chosen
    page.locator("#qa-doc-add").click()
    row = listing.locator(f'tr[data-doc="{DOCX_NAME}"]')
    row.wait_for()
    assert "Word" in row.inner_text() and int(row.locator(".qa-doc-passages").inner_text()) >= 1
    assert DOCX_NAME in page.locator("#qa-doc-status").inner_text()
    page.locator("#qa-header").filter(has_text="2 document(s)").wait_for()  # the header follows the collection
    assert "/tmp" not in listing.inner_text() and "index" not in page.locator("#qa-doc-status").inner_text()

    after = _ask(page)
    assert after[0].startswith(DOC_ID), f"the uploaded document answers first: {after}"
    top = page.locator("#qa-results .qa-card").first.inner_text()
    assert "三百万元" in top and DOCX_NAME in top

    page.get_by_role("tab", name="文档 Documents").click()
    page.locator("#qa-doc-choice input").click()
    page.get_by_role("option", name=DOCX_NAME).first.click()
    page.locator("#qa-doc-remove").click()
    page.locator("#qa-doc-status").filter(has_text="Removed").wait_for()
    assert listing.locator(f'tr[data-doc="{DOCX_NAME}"]').count() == 0
    assert "essay_page.txt" in listing.inner_text()

    again = _ask(page)
    assert again and not any(pid.startswith(DOC_ID) for pid in again), f"removed, yet still found: {again}"
