import pytest

from qa.config import DEFAULT_CORPUS, Settings
from qa.corpus import clean_page, corpus_checksum, corpus_files, load_corpus, load_document
from qa.errors import CorpusError


def test_default_corpus_is_the_bundled_essay():
    (doc,) = load_corpus()
    assert doc.title == "推进城市党建系统化引领社会治理体制机制创新融合发展"
    assert doc.source == str(DEFAULT_CORPUS)


def test_page_furniture_is_dropped_and_matter_kept_as_blocks():
    (doc,) = load_corpus()
    kinds = [b.kind for b in doc.blocks]
    assert kinds == ["title", "author", "body", "funding", "affiliation"]
    block = {b.kind: doc.text[b.start:b.end] for b in doc.blocks}
    assert block["author"] == "李扬"
    assert block["funding"].startswith("【本文系2018年度国家社科基金青年项目") and block["funding"].endswith("阶段性成果】")
    assert block["affiliation"] == "(作者单位:中共长沙市委党校)"
    assert block["body"].startswith("党的十九大报告指出")
    assert block["body"].endswith("强化党建引领社会治理综合服务承载力。")
    for furniture in ("随便看", "标题 |", "范文 |", "学术资源", "|"):
        assert furniture not in doc.text


def test_clean_page_on_a_small_scraped_page():
    raw = "标题 | 一篇文章 |\n范文 | 王五 正文第一句。正文第二句。 (作者单位:某大学) |\n随便看 |\n站点简介。"
    title, blocks = clean_page(raw)
    assert title == "一篇文章"
    assert blocks == [("title", "一篇文章"), ("author", "王五"), ("body", "正文第一句。正文第二句。"),
                      ("affiliation", "(作者单位:某大学)")]


def test_plain_text_file_is_one_body_block(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("会议纪要\n\n第一项。第二项。", encoding="utf-8")
    doc = load_document(f)
    assert doc.title == "会议纪要"
    assert [b.kind for b in doc.blocks] == ["body"]
    assert doc.doc_id == "notes"


def test_text_in_no_known_encoding_names_the_file(tmp_path):
    f = tmp_path / "odd.txt"
    f.write_bytes(b"\x81\x30\xff\xfe\x80\x80\x81")
    with pytest.raises(CorpusError, match="odd.txt.*not text in a known encoding.*UTF-8"):
        load_document(f)


def test_binary_file_is_refused(tmp_path):
    f = tmp_path / "image.txt"
    f.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    with pytest.raises(CorpusError, match="image.txt.*binary"):
        load_document(f)


def test_missing_and_empty_and_huge_files(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        load_corpus([tmp_path / "nope.txt"])
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    with pytest.raises(CorpusError, match="empty"):
        load_document(empty)
    big = tmp_path / "big.txt"
    big.write_text("党" * 100, encoding="utf-8")
    with pytest.raises(CorpusError, match="larger than"):
        load_document(big, Settings(max_file_bytes=100))


def test_folder_expands_to_text_files_in_order(tmp_path):
    (tmp_path / "b.md").write_text("# 乙\n内容。", encoding="utf-8")
    (tmp_path / "a.txt").write_text("甲的内容。", encoding="utf-8")
    (tmp_path / "skip.bin").write_bytes(b"\x00\x01")
    with pytest.warns(UserWarning, match="skip.bin"):
        assert [f.name for f in corpus_files([tmp_path])] == ["a.txt", "b.md"]
    with pytest.warns(UserWarning, match="skip.bin"):
        docs = load_corpus([tmp_path])
    assert [d.doc_id for d in docs] == ["a", "b"]


def test_same_file_names_in_two_folders_get_distinct_ids(tmp_path):
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "notes.txt").write_text(f"{sub}的笔记。", encoding="utf-8")
    docs = load_corpus([tmp_path / "x", tmp_path / "y"])
    assert [d.doc_id for d in docs] == ["notes", "notes_2"]


def test_checksum_changes_with_text(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("一。", encoding="utf-8")
    before = corpus_checksum(load_corpus([f]))
    f.write_text("二。", encoding="utf-8")
    assert corpus_checksum(load_corpus([f])) != before
