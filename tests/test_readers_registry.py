"""Which reader reads a file; folders list what they do not read; where a hit comes from."""

import os
import warnings

import pytest

from essay_formats import write_docx, write_pdf
from qa.corpus import UnsupportedFilesWarning, corpus_files, load_corpus, load_document, scan_corpus
from qa.errors import CorpusError
from qa.passages import Passage
from qa.present import hit_html, location_text
from qa.readers import formats_text, reader_for
from qa.search import Hit


def test_a_folder_lists_its_unsupported_files_in_one_warning(tmp_path):
    write_docx(tmp_path / "essay.docx")
    (tmp_path / "notes.md").write_text("# 说明\n\n社区工作者待遇逐步提高。", encoding="utf-8")
    (tmp_path / "setup.exe").write_bytes(b"MZ\x90\x00" + bytes(100))
    (tmp_path / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0" + bytes(100))
    (tmp_path / ".DS_Store").write_bytes(bytes(10))
    with pytest.warns(UnsupportedFilesWarning) as caught:
        docs = load_corpus([tmp_path])
    assert [d.doc_id for d in docs] == ["essay", "notes"]
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "setup.exe (not a supported format)" in message
    assert "old.doc (Word 97-2003 .doc: save it as .docx)" in message
    assert "2 unsupported files" in message and "DS_Store" not in message


def test_scan_corpus_returns_the_unsupported_files_with_reasons(tmp_path):
    (tmp_path / "a.txt").write_text("甲。", encoding="utf-8")
    (tmp_path / "b.exe").write_bytes(b"MZ")
    files, skipped = scan_corpus([tmp_path])
    assert [f.name for f in files] == ["a.txt"]
    assert [(f.name, why) for f, why in skipped] == [("b.exe", "not a supported format")]


def test_a_folder_with_only_supported_files_warns_nothing(tmp_path):
    (tmp_path / "a.txt").write_text("甲。", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [f.name for f in corpus_files([tmp_path])] == ["a.txt"]


def test_a_single_unsupported_file_names_the_supported_formats(tmp_path):
    f = tmp_path / "setup.exe"
    f.write_bytes(b"MZ\x90\x00")
    with pytest.raises(CorpusError, match=r"setup.exe: not a supported format; supported formats: .*\.pdf.*\.docx"):
        load_corpus([f])
    assert ".html" in formats_text() and ".md" in formats_text()


def test_a_folder_without_documents_says_so_and_what_it_found(tmp_path):
    (tmp_path / "photo.png").write_bytes(b"\x89PNG")
    with pytest.raises(CorpusError, match=r"no supported documents .*photo.png \(image: needs OCR first\)"):
        load_corpus([tmp_path])


def test_an_unreadable_folder_gives_a_clear_message(tmp_path, monkeypatch):
    (tmp_path / "a.txt").write_text("甲。", encoding="utf-8")

    def denied(top, onerror=None, **kwargs):
        onerror(PermissionError(13, "Permission denied", str(top)))
        return iter(())

    monkeypatch.setattr(os, "walk", denied)
    with pytest.raises(CorpusError, match=r"cannot read the folder \(Permission denied\)"):
        load_corpus([tmp_path])


def test_content_wins_over_a_wrong_suffix(tmp_path):
    pdf = write_pdf(tmp_path / "essay.pdf")
    disguised = tmp_path / "essay.txt"
    disguised.write_bytes(pdf.read_bytes())
    assert reader_for(disguised, disguised.read_bytes()[:100]).name == "PDF"
    assert load_document(disguised).title == "推进城市党建系统化引领社会治理体制机制创新融合发展"


def test_old_passages_without_page_still_load():
    old = {"id": "d:000", "doc_id": "d", "title": "t", "heading_path": ["一、总"], "text": "正文。",
           "start": 0, "end": 3, "source": "d.txt"}
    p = Passage.from_dict(old)
    assert p.page is None and p.paragraph is None
    assert Passage.from_dict(p.to_dict()) == p


def _hit(**where) -> Hit:
    return Hit(rank=1, passage_id="report:003", doc_id="report", title="报告", heading_path=("一、总体要求",),
               text="坚持党建引领。", source="/docs/report.pdf", start=0, end=7, highlights=((0, 7),),
               scores={"dense": 0.9, "lexical": 1.0, "coverage": 1.0, "fused": 1.0}, confidence=0.9, **where)


def test_hits_show_their_page_or_paragraph():
    assert "一、总体要求 · p. 3" in str(_hit(page=3))
    assert "一、总体要求 · ¶ 12" in str(_hit(paragraph=12))
    assert "p." not in str(_hit()) and "¶" not in str(_hit())
    assert _hit(page=3).to_dict()["page"] == 3
    assert 'class="qa-loc"' in hit_html(_hit(page=3)) and "report.pdf · p. 3" in hit_html(_hit(page=3))
    assert "qa-loc" not in hit_html(_hit())
    assert location_text("C:\\docs\\notice.docx", None, 7) == "notice.docx · ¶ 7"
