"""PDF: the essay gives the passages of its text version, without running headers or page numbers,
each passage on its page; a scan without a text layer is refused clearly."""

import re

import pypdfium2 as pdfium
import pytest

from essay_formats import RUNNING_HEADER, identity_share, write_pdf, write_scanned_pdf
from qa.corpus import load_corpus, load_document
from qa.errors import CorpusError
from qa.passages import split_corpus, split_document


@pytest.fixture(scope="module")
def essay_pdf(tmp_path_factory):
    return write_pdf(tmp_path_factory.mktemp("pdf") / "essay.pdf")


@pytest.fixture(scope="module")
def pdf_passages(essay_pdf):
    return split_corpus(load_corpus([essay_pdf]))


def _page_texts(path) -> list[str]:
    pdf = pdfium.PdfDocument(path)
    texts = [re.sub(r"\s+", "", pdf[i].get_textpage().get_text_range()) for i in range(len(pdf))]
    pdf.close()
    return texts


def test_the_fixture_has_pages_with_a_running_header_and_page_numbers(essay_pdf):
    pages = _page_texts(essay_pdf)
    assert len(pages) >= 4
    for n, text in enumerate(pages, start=1):
        assert re.sub(r"\s", "", RUNNING_HEADER) in text and f"-{n}-" in text


def test_essay_as_pdf_gives_the_passages_of_the_text(pdf_passages):
    essay = split_corpus(load_corpus())
    assert identity_share(essay, pdf_passages) >= 0.95
    assert [p.heading_path for p in pdf_passages] == [p.heading_path for p in essay]
    assert pdf_passages[0].title == "推进城市党建系统化引领社会治理体制机制创新融合发展"


def test_a_two_column_journal_layout_gives_the_same_passages(tmp_path):
    path = write_pdf(tmp_path / "journal.pdf", columns=2)
    assert identity_share(split_corpus(load_corpus()), split_corpus(load_corpus([path]))) >= 0.95


def test_latin_words_keep_their_spaces_across_lines(tmp_path):
    from reportlab.lib.pagesizes import A5
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    path = tmp_path / "english.pdf"
    text = ("Community governance under party building leadership needs clear responsibilities, "
            "stable funding and trained community workers in every district of the city. ") * 3
    style = ParagraphStyle("b", fontName="Helvetica", fontSize=10, leading=14)
    SimpleDocTemplate(str(path), pagesize=A5).build([Paragraph(text, style)])
    (passage,) = split_document(load_document(path))
    assert passage.text == text.strip()


def test_no_running_header_or_page_number_in_any_passage(pdf_passages):
    for p in pdf_passages:
        assert "城市党建研究" not in p.text and "2019年第3期" not in p.text
        assert not re.search(r"-\s*\d+\s*-", p.text)


def test_every_passage_knows_the_page_it_starts_on(essay_pdf, pdf_passages):
    pages = _page_texts(essay_pdf)
    assert {p.page for p in pdf_passages} == set(range(1, len(pages) + 1))
    for p in pdf_passages:
        start = re.sub(r"\s", "", p.text)[:6]
        assert start in pages[p.page - 1], (p.id, p.page, start)
        assert p.paragraph is None


def test_lines_are_rejoined_without_spaces_and_a_paragraph_runs_over_a_page_break(pdf_passages, essay_pdf):
    pages = _page_texts(essay_pdf)
    spanning = [p for p in pdf_passages
                if p.page < len(pages) and re.sub(r"\s", "", p.text)[-6:] in pages[p.page]]
    assert spanning, "the fixture should have a paragraph running onto the next page"
    for p in pdf_passages:
        assert "\n" not in p.text
        assert not re.search(r"[\u4e00-\u9fff] +[\u4e00-\u9fff]", p.text)


def test_a_pdf_without_a_text_layer_is_refused_with_the_ocr_hint(tmp_path):
    from PIL import Image
    from reportlab.lib.pagesizes import A5
    from reportlab.pdfgen import canvas

    path = tmp_path / "scan.pdf"
    c = canvas.Canvas(str(path), pagesize=A5)
    c.drawInlineImage(Image.new("L", (200, 280), 255), 20, 20, 380, 550)
    c.showPage()
    c.save()
    with pytest.raises(CorpusError, match=r"scan\.pdf has no text layer: scanned PDFs need OCR first"):
        load_document(path)


def test_a_heading_set_large_is_a_heading_even_without_a_grammar_marker(tmp_path):
    from reportlab.lib.pagesizes import A5
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    path = tmp_path / "chapters.pdf"
    c = canvas.Canvas(str(path), pagesize=A5)
    y = 520
    for text, size in (("第一章 总则", 14), ("本办法适用于全市各街道社区。", 10.5),
                       ("第二章 保障", 14), ("经费纳入年度预算。", 10.5)):
        c.setFont("STSong-Light", size)
        c.drawString(40, y, text)
        y -= 40
    c.save()
    passages = split_document(load_document(path))
    assert [(p.heading_path, p.text) for p in passages] == [
        (("第一章 总则",), "本办法适用于全市各街道社区。"), (("第二章 保障",), "经费纳入年度预算。")]


def test_a_file_that_is_not_a_pdf_is_refused_with_its_name(tmp_path):
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.7 nothing else")
    with pytest.raises(CorpusError, match="broken.pdf.*not a readable PDF"):
        load_document(path)


@pytest.mark.slow
def test_asking_a_pdf_answers_with_page_and_heading_path(essay_pdf, settings, embedder):
    from qa import Assistant

    answer = Assistant([essay_pdf], settings, embedder=embedder).ask("如何加强党风廉政建设？")
    top = answer[0]
    assert answer.found
    assert top.breadcrumb == "二、城市党建系统化创新融合路径 › (一)强化基层组织建设 › 1.明确街道社区党组织的职责功能定位"
    assert re.sub(r"\s", "", top.text)[:6] in _page_texts(essay_pdf)[top.page - 1]
    assert f"p. {top.page}" in str(top)


def test_scanned_pages_among_text_pages_are_named_in_a_warning(tmp_path):
    path = write_scanned_pdf(tmp_path / "mixed.pdf", blank_page=True)  # a blank page is not a scan
    with pytest.warns(UserWarning, match=r"mixed.pdf: page 2 without a text layer"):
        doc = load_document(path)
    assert doc.text == "第一页有文字。"


def test_table_of_contents_lines_are_dropped(tmp_path):
    from reportlab.lib.pagesizes import A5
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    path = tmp_path / "toc.pdf"
    c = canvas.Canvas(str(path), pagesize=A5)
    c.setFont("STSong-Light", 10.5)
    for y, text in ((500, "一、总体要求……………………2"), (480, "二、主要任务……………………2")):
        c.drawString(40, y, text)
    c.showPage()
    c.setFont("STSong-Light", 10.5)
    for y, text in ((500, "一、总体要求"), (470, "坚持党建引领。")):
        c.drawString(40, y, text)
    c.save()
    passages = split_document(load_document(path))
    assert [(p.heading_path, p.text, p.page) for p in passages] == [(("一、总体要求",), "坚持党建引领。", 2)]
