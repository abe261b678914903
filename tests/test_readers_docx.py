"""Word documents: the essay gives the passages of its text version; headings, numbering, tables."""

import docx
import pytest
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls

from essay_formats import identity_share, write_docx
from qa.corpus import load_corpus, load_document
from qa.errors import CorpusError
from qa.passages import split_corpus, split_document


@pytest.fixture(scope="module")
def essay_passages():
    return split_corpus(load_corpus())


@pytest.mark.parametrize("styles", [True, False], ids=["heading-styles", "plain-bold-numbered"])
def test_essay_as_docx_gives_the_passages_of_the_text(tmp_path, essay_passages, styles):
    path = write_docx(tmp_path / "essay.docx", styles=styles)
    passages = split_corpus(load_corpus([path]))
    assert identity_share(essay_passages, passages) >= 0.95
    assert [p.heading_path for p in passages] == [p.heading_path for p in essay_passages]


def test_paragraph_numbers_point_at_the_passage(tmp_path):
    path = write_docx(tmp_path / "essay.docx")
    paragraphs = [p.text for p in docx.Document(path).paragraphs if p.text.strip()]
    passages = split_document(load_document(path))
    assert all(p.paragraph is not None and p.page is None for p in passages)
    for p in passages:
        assert p.text in paragraphs[p.paragraph - 1]


def test_style_headings_without_a_grammar_marker_nest_above_the_grammar(tmp_path):
    document = docx.Document()
    document.add_heading("通知 标题", 0)
    document.add_heading("第一章 总则", 1)
    document.add_paragraph("一、适用范围")
    document.add_paragraph("本办法适用于全市各街道社区。")
    document.add_heading("第二章 保障", 1)
    document.add_paragraph("经费纳入年度预算。")
    path = tmp_path / "notice.docx"
    document.save(path)
    passages = split_document(load_document(path))
    assert [(p.heading_path, p.text) for p in passages] == [
        (("标题 Title",), "通知 标题"),
        (("第一章 总则", "一、适用范围"), "本办法适用于全市各街道社区。"),
        (("第二章 保障",), "经费纳入年度预算。"),
    ]


def _chinese_numbering(document, fmt: str, text: str) -> str:
    """Add a one-level automatic numbering definition; return its numId."""
    numbering = document.part.numbering_part.element
    numbering.append(parse_xml(
        f'<w:abstractNum {nsdecls("w")} w:abstractNumId="90"><w:lvl w:ilvl="0"><w:start w:val="1"/>'
        f'<w:numFmt w:val="{fmt}"/><w:lvlText w:val="{text}"/></w:lvl></w:abstractNum>'))
    numbering.append(parse_xml(f'<w:num {nsdecls("w")} w:numId="90"><w:abstractNumId w:val="90"/></w:num>'))
    return "90"


def _number(paragraph, num_id: str) -> None:
    ppr = paragraph._p.get_or_add_pPr()
    ppr.append(parse_xml(f'<w:numPr {nsdecls("w")}><w:ilvl w:val="0"/><w:numId w:val="{num_id}"/></w:numPr>'))


def test_automatic_chinese_numbering_is_written_out_and_read_as_headings(tmp_path):
    document = docx.Document()
    num_id = _chinese_numbering(document, "chineseCounting", "%1、")
    for heading, body in (("总体要求", "坚持党建引领。"), ("主要任务", "完善社区治理。")):
        p = document.add_paragraph()
        p.add_run(heading).bold = True
        _number(p, num_id)
        document.add_paragraph(body)
    path = tmp_path / "numbered.docx"
    document.save(path)
    passages = split_document(load_document(path))
    assert [(p.heading_path, p.text) for p in passages] == [
        (("一、总体要求",), "坚持党建引领。"), (("二、主要任务",), "完善社区治理。")]


def test_a_table_is_one_passage_of_rows_with_cells_joined(tmp_path):
    document = docx.Document()
    document.add_heading("三、经费保障", 1)
    table = document.add_table(rows=3, cols=3)
    for r, row in enumerate([("项目", "标准", "来源"), ("党建经费", "每人每年500元", "区财政"),
                             ("办公经费", "每社区每年2万元", "街道")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    table.cell(0, 1).merge(table.cell(0, 2)).text = "标准与来源"
    document.add_paragraph("以上经费专款专用。")
    path = tmp_path / "table.docx"
    document.save(path)
    doc = load_document(path)
    assert [b.kind for b in doc.blocks] == ["body", "table", "body"]
    passages = split_document(doc)
    assert [p.heading_path for p in passages] == [("三、经费保障",)] * 2
    assert passages[0].text == ("项目 | 标准与来源\n党建经费 | 每人每年500元 | 区财政\n"
                                "办公经费 | 每社区每年2万元 | 街道")
    assert passages[0].paragraph == 2 and passages[1].paragraph == 3


def test_a_broken_docx_is_refused_with_its_name(tmp_path):
    path = tmp_path / "broken.docx"
    path.write_bytes(b"PK\x03\x04 not really a zip word/")
    with pytest.raises(CorpusError, match="broken.docx.*not a readable Word"):
        load_document(path)


def test_footnotes_follow_the_paragraph_citing_them(tmp_path):
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.opc.packuri import PackURI
    from docx.opc.part import Part

    document = docx.Document()
    document.add_heading("一、经费保障", 1)
    cited = document.add_paragraph("党建经费按人头拨付。")
    document.add_paragraph("加大监管力度。")
    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    blob = (f'<w:footnotes {w}><w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p>'
            '</w:footnote><w:footnote w:id="1"><w:p><w:r><w:t>标准见市委组织部2019年12号文件。</w:t></w:r></w:p>'
            "</w:footnote></w:footnotes>").encode()
    part = Part(PackURI("/word/footnotes.xml"),
                "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml", blob,
                document.part.package)
    document.part.relate_to(part, RT.FOOTNOTES)
    cited.add_run()._r.append(parse_xml(f'<w:footnoteReference {nsdecls("w")} w:id="1"/>'))
    path = tmp_path / "notes.docx"
    document.save(path)
    passages = split_document(load_document(path))
    assert [(p.heading_path, p.text, p.paragraph) for p in passages] == [
        (("一、经费保障",), "党建经费按人头拨付。", 2),
        (("一、经费保障",), "标准见市委组织部2019年12号文件。", 2),
        (("一、经费保障",), "加大监管力度。", 3),
    ]


def test_table_of_contents_entries_are_not_headings(tmp_path):
    document = docx.Document()
    document.add_paragraph("目录")
    document.add_paragraph("一、总体要求……………………1")
    document.add_paragraph("二、主要任务.................2")
    document.add_paragraph("一、总体要求")
    document.add_paragraph("坚持党建引领。")
    path = tmp_path / "toc.docx"
    document.save(path)
    passages = split_document(load_document(path))
    assert [(p.heading_path, p.text) for p in passages] == [((), "目录"), (("一、总体要求",), "坚持党建引领。")]
