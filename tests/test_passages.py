from qa.config import Settings
from qa.corpus import document_from_text, load_corpus
from qa.passages import Passage, sentence_spans, split_document, split_heading

ESSAY_PATHS = [
    ("标题 Title",),
    ("作者 Author",),
    (),
    ("一、城市党建系统化建构中的不足", "(一)城市党建系统化构建不完善"),
    ("一、城市党建系统化建构中的不足", "(二)党建主体赋权扩能力度不足"),
    ("一、城市党建系统化建构中的不足", "(三)特色党建品牌扩散效应不强"),
    ("二、城市党建系统化创新融合路径", "(一)强化基层组织建设", "1.明确街道社区党组织的职责功能定位"),
    ("二、城市党建系统化创新融合路径", "(一)强化基层组织建设", "2.强化街道党组织的统筹协调调度能力"),
    ("二、城市党建系统化创新融合路径", "(一)强化基层组织建设", "3.保证社区党组织有条件为群众服务"),
    ("二、城市党建系统化创新融合路径", "(二)激发党建整体效应", "1.健全市、区、街道、社区党组织四级联动机制"),
    ("二、城市党建系统化创新融合路径", "(二)激发党建整体效应", "2.完善街道社区党建、单位党建、行业党建互联互通机制"),
    ("二、城市党建系统化创新融合路径", "(二)激发党建整体效应", "3.优化整合现代信息技术"),
    ("二、城市党建系统化创新融合路径", "(三)提升整体治理水平", "1.创新社区居民自治机制"),
    ("二、城市党建系统化创新融合路径", "(三)提升整体治理水平", "2.探索多方参与的治理模式"),
    ("二、城市党建系统化创新融合路径", "(三)提升整体治理水平", "3.做强做实区域网格党建"),
    ("二、城市党建系统化创新融合路径", "(四)巩固组织坚实基础", "1.压实党建责任"),
    ("二、城市党建系统化创新融合路径", "(四)巩固组织坚实基础", "2.强化分类指导"),
    ("二、城市党建系统化创新融合路径", "(四)巩固组织坚实基础", "3.夯实基础保障"),
    ("基金项目 Funding",),
    ("作者单位 Affiliation",),
]


def essay_passages():
    (doc,) = load_corpus()
    return doc, split_document(doc)


def test_every_essay_passage_has_the_right_heading_path():
    _, passages = essay_passages()
    assert [p.heading_path for p in passages] == ESSAY_PATHS


def test_passage_text_is_the_cleaned_document_span():
    doc, passages = essay_passages()
    for p in passages:
        assert doc.text[p.start:p.end] == p.text
        assert p.text == p.text.strip() and p.text
    assert passages[6].text.startswith("党建引领社会治理,就是要明确街道社区党组织的政治定位")
    assert "进一步落实党风廉政建设" in passages[6].text


def test_headings_are_not_passages_and_ids_are_stable():
    _, passages = essay_passages()
    assert not any(p.text.startswith(("一、", "二、", "(一)", "1.")) for p in passages)
    assert [p.id for p in passages] == [f"essay_page:{i:03d}" for i in range(len(passages))]
    assert [p.id for p in essay_passages()[1]] == [p.id for p in passages]


def test_parenthesised_words_inside_text_are_not_headings():
    _, passages = essay_passages()
    assert any("区(县、市)党委政府" in p.text for p in passages)
    assert split_heading("区(县、市)党委") is None


def test_heading_grammar_variants():
    text = ("十一、全角与半角 （一）全角括号标题 1．第一点。正文一。 (二)半角括号标题 (1)小点标题：正文二。"
            " 十二、最后一节 正文三。")
    passages = split_document(document_from_text(text, "t"))
    assert [(p.heading_path, p.text) for p in passages] == [
        (("十一、全角与半角", "（一）全角括号标题", "1．第一点"), "正文一。"),
        (("十一、全角与半角", "(二)半角括号标题", "(1)小点标题"), "正文二。"),
        (("十二、最后一节",), "正文三。"),
    ]


def test_heading_without_terminator_stops_at_a_clause():
    head = split_heading("一、" + "很长的标题" * 10 + ",后面是正文")
    assert head is not None and head[0] == 1 and head[1].startswith("一、很长的标题") and "," not in head[1]


def test_numbers_in_text_are_not_point_headings():
    passages = split_document(document_from_text("经费增长 1.5倍。 第一,要落实。第二,要规范。", "t"))
    assert all(p.heading_path == () for p in passages)


def test_english_spaces_do_not_split_paragraphs():
    passages = split_document(document_from_text("Party building leads social governance in cities.", "t"))
    assert len(passages) == 1


def test_markdown_headings(tmp_path):
    f = tmp_path / "a.md"
    f.write_text("# 总则\n\n第一段。\n\n## 细则\n\n一、要求\n第二段。\n", encoding="utf-8")
    (doc,) = load_corpus([f])
    assert [(p.heading_path, p.text) for p in split_document(doc)] == [
        (("总则",), "第一段。"), (("总则", "细则", "一、要求"), "第二段。")]


def test_long_paragraph_is_cut_at_sentences():
    sentence = "这是一个用于测试切分的句子。"
    text = sentence * 20
    passages = split_document(document_from_text(text, "t"), Settings(max_passage_chars=100))
    assert len(passages) > 1
    assert "".join(p.text for p in passages) == text
    assert all(len(p.text) <= 100 and p.text.endswith("。") for p in passages)


def test_whole_contexts_when_splitting_is_off():
    text = "一、标题 正文。 二、标题 正文二。"
    (p,) = split_document(document_from_text(text, "t"), Settings(split_contexts=False))
    assert p.text == text and p.heading_path == ()


def test_sentence_spans_keep_closing_quotes():
    text = "他说“好。”然后走了！最后"
    assert [text[s:e] for s, e in sentence_spans(text)] == ["他说“好。”", "然后走了！", "最后"]


def test_passage_round_trips_through_dict():
    _, passages = essay_passages()
    assert Passage.from_dict(passages[6].to_dict()) == passages[6]
    assert passages[6].breadcrumb.count(" › ") == 2
