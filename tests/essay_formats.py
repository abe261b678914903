"""The bundled essay written out as Word, PDF and web page files, for the reader tests and benchmarks.

Each writer lays the essay out the way such files usually are: headings on lines of
their own (Word heading styles, or plain bold paragraphs numbered 一、; a larger font in
the PDF; <h2>/<h3> on the page), points ``1.…`` starting their paragraph, the funding
note and affiliation at the end. Nothing is downloaded: python-docx and reportlab (with
its built-in CID font STSong-Light) write the files.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from qa.corpus import load_corpus
from qa.passages import Passage, _paragraphs, split_heading

#: The running header of the PDF; it must appear in no passage.
RUNNING_HEADER = "城市党建研究 2019年第3期"


def essay_outline() -> list[tuple[str, str, int]]:
    """The essay as (kind, text, heading level) items: title, author, heading, para, funding, affiliation."""
    (doc,) = load_corpus()
    items: list[tuple[str, str, int]] = []
    for block in doc.blocks:
        text = doc.text[block.start:block.end]
        if block.kind != "body":
            items.append((block.kind, text, 0))
            continue
        for s, e in _paragraphs(doc.text, block.start, block.end):
            para = doc.text[s:e]
            head = split_heading(para)
            if head is not None and head[2] >= len(para):
                items.append(("heading", para, head[0]))
            else:
                items.append(("para", para, 0))
    return items


def write_docx(path: Path, *, styles: bool = True) -> Path:
    """The essay as .docx: headings in Heading 1/2 styles, or as plain bold paragraphs."""
    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    document = docx.Document()
    for kind, text, level in essay_outline():
        if kind == "title":
            if styles:
                document.add_heading(text, 0)
            else:
                p = document.add_paragraph()
                p.add_run(text).bold = True
                p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        elif kind == "author":
            document.add_paragraph(text).alignment = WD_ALIGN_PARAGRAPH.CENTER
        elif kind == "heading":
            if styles:
                document.add_heading(text, level)
            else:
                document.add_paragraph().add_run(text).bold = True
        else:
            document.add_paragraph(text)
    document.save(path)
    return path


def write_pdf(path: Path, copies: int = 1, columns: int = 1) -> Path:
    """The essay as a PDF of several pages: a running header, page numbers ``- n -`` in the footer.

    One column on A5, or ``columns=2`` on A4 as journals print; ``copies`` > 1 repeats the
    essay, for timing a longer file.
    """
    from reportlab.lib.pagesizes import A4, A5
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate, Paragraph

    font = "STSong-Light"
    pdfmetrics.registerFont(UnicodeCIDFont(font))
    size = 10.5 if columns == 1 else 9
    body = ParagraphStyle("body", fontName=font, fontSize=size, leading=size * 1.6, firstLineIndent=2 * size,
                          wordWrap="CJK", spaceAfter=0)
    styles = {
        "title": ParagraphStyle("title", parent=body, fontSize=16, leading=26, firstLineIndent=0, alignment=1,
                                spaceAfter=6),
        "author": ParagraphStyle("author", parent=body, firstLineIndent=0, alignment=1, spaceAfter=6),
        1: ParagraphStyle("h1", parent=body, fontSize=size + 2.5, leading=(size + 2.5) * 1.7, spaceBefore=6),
        2: ParagraphStyle("h2", parent=body, fontSize=size + 1, leading=(size + 1) * 1.6),
    }
    width, height = page = A5 if columns == 1 else A4
    margin, gap = 42, 18
    column_width = (width - 2 * margin - (columns - 1) * gap) / columns
    frames = [Frame(margin + i * (column_width + gap), 45, column_width, height - 95, id=f"c{i}",
                    leftPadding=0, rightPadding=0) for i in range(columns)]

    def furniture(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(font, 8)
        canvas.drawString(margin, height - 28, RUNNING_HEADER)
        canvas.drawCentredString(width / 2, 22, f"- {doc.page} -")
        canvas.restoreState()

    story = []
    for kind, text, level in essay_outline() * copies:
        style = styles.get(kind) or (styles.get(level, body) if kind == "heading" else body)
        story.append(Paragraph(html.escape(text, quote=False), style))
    template = BaseDocTemplate(str(path), pagesize=page, title="")
    template.addPageTemplates([PageTemplate(frames=frames, onPage=furniture)])
    template.build(story)
    return path


def write_scanned_pdf(path: Path, *, blank_page: bool = False) -> Path:
    """A PDF whose first page has text and whose second is an image without a text layer (a scan);
    ``blank_page`` adds an empty third page (which is not a scan)."""
    from PIL import Image
    from reportlab.lib.pagesizes import A5
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    c = canvas.Canvas(str(path), pagesize=A5)
    c.setFont("STSong-Light", 10.5)
    c.drawString(40, 500, "第一页有文字。")
    c.showPage()
    c.drawInlineImage(Image.new("L", (100, 140), 200), 20, 20, 380, 550)
    c.showPage()
    if blank_page:
        c.showPage()
    c.save()
    return path


def write_html(path: Path) -> Path:
    """The essay as a web page with site furniture: navigation, a sidebar, a footer."""
    out = ['<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">',
           "<title>推进城市党建系统化引领社会治理体制机制创新融合发展 - 学术资源网</title></head><body>",
           '<header><nav><a href="/">首页</a> | <a href="/fanwen">范文</a> | <a href="/lunwen">论文</a> | '
           '<a href="/login">登录</a></nav></header>',
           '<div class="sidebar"><h3>热门文章</h3><ul><li><a href="/1">如何写好年度工作总结</a></li>'
           '<li><a href="/2">述职报告范文大全</a></li><li><a href="/3">入党申请书怎么写</a></li></ul></div>',
           "<main><article>"]
    for kind, text, level in essay_outline():
        t = html.escape(text, quote=False)
        if kind == "title":
            out.append(f"<h1>{t}</h1>")
        elif kind == "heading":
            out.append(f"<h{level + 1}>{t}</h{level + 1}>")
        else:
            out.append(f"<p>{t}</p>")
    out += ["</article></main>",
            '<footer><p>随便看</p><p>科学优质学术资源、百科知识分享平台,免费提供知识科普、生活经验分享。</p>'
            "<p>版权所有 © 2019 学术资源网 京ICP备12345678号</p></footer></body></html>"]
    path.write_text("\n".join(out), encoding="utf-8")
    return path


def normalized(p: Passage) -> tuple[tuple[str, ...], str]:
    """A passage's heading path and text with all whitespace removed, for comparing formats."""
    return tuple(re.sub(r"\s+", "", h) for h in p.heading_path), re.sub(r"\s+", "", p.text)


def identity_share(reference: list[Passage], other: list[Passage]) -> float:
    """Passages identical in both (heading path and text), as a share of the larger count.

    An extra passage in ``other`` (say, left-over furniture) lowers the share as a missing one does.
    """
    pool = [normalized(p) for p in other]
    found = 0
    for p in reference:
        key = normalized(p)
        if key in pool:
            pool.remove(key)
            found += 1
    return found / max(len(reference), len(other)) if reference or other else 1.0
