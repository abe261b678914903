"""The kind of answer a question asks for, and which texts hold one (plain regular expressions)."""

import pytest

from qa.answer_kind import asked_kind, holds_kind, kind_label


@pytest.mark.parametrize("question, kind", [
    ("长沙市一共有多少个社区党组织？", "count:个"), ("一个网格支部一般覆盖多少户居民？", "count:户"),
    ("青川市去年发生了多少起电动自行车火灾？", "count:起"), ("长沙市有多少名在职党员到社区报到？", "count:名"),
    ("社区党组织书记的任期是几年？", "duration"), ("黨校的培訓班一期要上多少天？", "duration"),
    ("卡里没用完的钱能退吗，多久退？", "duration"), ("骑电动自行车不戴头盔会被罚多少钱？", "money"),
    ("社区工作者的月工资大概有多少？", "money"), ("居民家里的阶梯电价是多少？", "money"),
    ("社区居委会选举的投票率一般有多高？", "percentage"), ("两新组织的党组织覆盖率目前是多少？", "percentage"),
    ("棚子最低要多高？", "length"), ("考察期有多长？", "extent"), ("他几岁入党？", "age"),
    ("车棚面积至少多少平方米？", "area"), ("国网供电公司的客服电话是多少？", "phone"),
    ("投诉邮箱是什么？", "web"), ("一共要填多少？", "quantity"), ("How many parties are there?", "quantity"),
    ("How long does the review take?", "duration"), ("What percentage of members voted?", "percentage"),
    ("这篇文章是哪一年发表的？", "time"), ("When was the plan adopted?", "time"),
    ("谁来摸清小区里有多少辆电瓶车？", ""), ("每个插口功率最大多少？", "quantity"),
    ("什么时候开始实施？", "time"), ("街道党工委如何统筹辖区资源？", ""), ("为什么要减轻社区负担？", ""), ("What does the essay propose?", ""),
])
def test_each_question_gets_the_narrowest_kind_its_wording_allows(question: str, kind: str) -> None:
    assert asked_kind(question) == kind


@pytest.mark.parametrize("kind, text, holds", [
    ("quantity", "全市共有1200个社区", True), ("quantity", "建立市区街道社区四级联动机制", True),
    ("quantity", "覆盖率达到百分之九十", True), ("quantity", "1.明确街道党组织主责主业", False),
    ("quantity", "建立一个统一的平台，形成一条主线", False),
    # a count needs its own counter: enumerations of aspects do not count households
    ("count:户", "每个网格覆盖300户居民", True), ("count:户", "从三个方面推进", False),
    ("count:户", "每户不少于0.6个停车位", False), ("count:名", "配备5名专职社工", True),
    ("count:名", "配备5位专职社工", True), ("count:个", "设立二十多个工作组", True),
    ("count:个", "形成一个平台", False), ("count:户", "人数占比三分之二以上的业主参与表决", True),
    ("count:人", "人口约2600万", True), ("percentage", "首集收视率1.42", True), ("length", "距离地球约100光年", True),
    ("money", "每千瓦时不得超过1.2元", True), ("money", "每年3万元", True), ("money", "净高不低于2.2米", False),
    ("length", "净高不低于2.2米", True), ("length", "不超过1.2元", False),
    ("duration", "任期五年", True), ("duration", "充电时间不超过8小时", True), ("duration", "三个方面", False),
    ("extent", "考察期为一年", True), ("extent", "长约3公里", True), ("extent", "分为三类", False),
    ("percentage", "覆盖率达到90%", True), ("percentage", "占三分之二", True), ("percentage", "三个方面", False),
    ("time", "该办法自2024年3月1日起施行", True), ("time", "街道党组织要统筹协调", False),
    ("phone", "服务热线12345", True), ("phone", "开通24小时服务电话", False), ("phone", "0731-88886666", True),
    ("web", "登录www.example.gov.cn办理", True), ("web", "在网上办理", False),
    ("", "anything at all", True),
])
def test_what_holds_an_answer_of_each_kind(kind: str, text: str, holds: bool) -> None:
    assert holds_kind(kind, text) is holds


def test_every_kind_has_a_label_in_both_languages() -> None:
    kinds = {asked_kind(q) for q in ("多少钱", "多高", "多长", "多少平方米", "多重", "几年", "几岁", "覆盖率是多少",
                                     "哪一年", "多少", "多少户", "电话是多少", "网址是什么")}
    assert "" not in kinds and len(kinds) == 13
    for kind in kinds:
        zh, en = kind_label(kind)
        assert zh and en and zh != en
    assert "户" in kind_label("count:户")[0] and "户" in kind_label("count:户")[1]
