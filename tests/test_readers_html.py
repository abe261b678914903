"""Web pages: the main text with its headings, site furniture dropped."""

from essay_formats import identity_share, write_html
from qa.corpus import load_corpus, load_document
from qa.passages import split_corpus, split_document


def test_essay_as_a_web_page_gives_the_passages_of_the_text(tmp_path):
    path = write_html(tmp_path / "essay.html")
    essay = split_corpus(load_corpus())
    passages = split_corpus(load_corpus([path]))
    assert identity_share(essay, passages) >= 0.95
    assert [p.heading_path for p in passages] == [p.heading_path for p in essay]
    text = "".join(p.text for p in passages)
    for furniture in ("首页", "登录", "热门文章", "述职报告范文大全", "随便看", "版权所有", "京ICP备"):
        assert furniture not in text


def test_hn_headings_without_a_grammar_marker_are_headings(tmp_path):
    path = tmp_path / "notice.htm"
    path.write_text(
        '<!DOCTYPE html><html><head><meta charset="gbk"><title>通知</title></head><body>'
        "<nav><a href='/'>首页</a></nav><article><h1>关于加强社区党建的通知</h1>"
        "<h2>第一章 总则</h2><p>本办法适用于全市各街道社区，自发布之日起施行。</p>"
        "<h2>第二章 保障</h2><p>经费纳入年度预算，专款专用，任何单位不得挪用。</p></article>"
        "<footer>版权所有</footer></body></html>", encoding="gbk")
    doc = load_document(path)
    assert doc.title == "关于加强社区党建的通知"
    assert [(p.heading_path, p.text) for p in split_document(doc)] == [
        (("标题 Title",), "关于加强社区党建的通知"),
        (("第一章 总则",), "本办法适用于全市各街道社区，自发布之日起施行。"),
        (("第二章 保障",), "经费纳入年度预算，专款专用，任何单位不得挪用。"),
    ]
