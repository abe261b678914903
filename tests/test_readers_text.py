"""Plain text in the encodings Chinese files come in; binary files still refused."""

import codecs

import pytest

from qa.corpus import load_document
from qa.errors import CorpusError
from qa.passages import split_document

TEXT = "会议纪要\n\n一、总体要求\n坚持问题导向，推进社区治理。\n二、工作安排\n街道党工委统筹协调。"


@pytest.mark.parametrize("encoding, bom", [
    ("utf-8", b""), ("utf-8", codecs.BOM_UTF8), ("gbk", b""), ("gb18030", b""),
    ("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE),
    ("utf-16-le", b""), ("utf-16-be", b""),
])
def test_chinese_text_in_common_encodings_reads_the_same(tmp_path, encoding, bom):
    f = tmp_path / f"notes_{encoding}.txt"
    f.write_bytes(bom + TEXT.encode(encoding))
    doc = load_document(f)
    assert doc.text == TEXT
    assert [p.heading_path for p in split_document(doc)] == [(), ("一、总体要求",), ("二、工作安排",)]


def test_short_gbk_file_is_read(tmp_path):
    f = tmp_path / "gbk.txt"
    f.write_bytes("社区党建".encode("gbk"))
    assert load_document(f).text == "社区党建"


def test_long_gbk_essay_is_read(tmp_path):
    from qa.config import DEFAULT_CORPUS

    f = tmp_path / "essay_gbk.txt"
    f.write_bytes(DEFAULT_CORPUS.read_text(encoding="utf-8").encode("gb18030"))
    assert load_document(f).text == load_document(DEFAULT_CORPUS).text


@pytest.mark.parametrize("data, what", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", "PNG"),
    (b"MZ\x90\x00\x03\x00\x00\x00" + bytes(200), "Windows program"),
    (bytes(range(256)) * 8, "binary"),
])
def test_binary_files_are_refused_with_what_they_look_like(tmp_path, data, what):
    f = tmp_path / "data.txt"
    f.write_bytes(data)
    with pytest.raises(CorpusError, match=f"data.txt.*{what}"):
        load_document(f)
