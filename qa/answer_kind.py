"""The kind of answer a question asks for, and whether a passage holds one.

A question asking 多少户 (how many households) is answered by a passage with a number
of households, not by any number: policy texts are full of enumerations (三个方面,
四级联动) that answer no question about a count. So each question gets the narrowest
kind its wording allows — a count of the counter it names, money, a length, an area,
a weight, a duration, an age, a percentage, a phone number, a web address, a time, or,
failing those, any quantity — and a passage holds an answer only with a number of that kind. This survives
paraphrase: whatever words a reader uses, 多少钱 still needs a sum of money.

Everything here works on normalised text (simplified, folded, no spaces; see
:func:`qa.normalize.normalize`), with regular expressions only: no model.
"""

from __future__ import annotations

import re
from typing import Mapping

#: A number: digits (with decimals or thousands separators) or Chinese numerals, optionally
#: "20多" / "100余" / "十几", then 万/亿/千/百.
_NUMBER = (r"(?:[0-9]+(?:[.,][0-9]+)*|[一两二三四五六七八九十半][零〇一二两三四五六七八九十百千万亿]*)"
           r"(?:多|余|几)?(?:万|亿|千|百)?")
#: The same without a lone 一 before 个 ("一个" is mostly "a", not a count).
_COUNT_NUMBER = (r"(?:[0-9]+(?:[.,][0-9]+)*|(?:[两二三四五六七八九十半]|一[十百千万亿])[零〇一二两三四五六七八九十百千万亿]*)"
                 r"(?:多|余|几)?(?:万|亿|千|百)?")

#: Units of each kind of quantity (alternatives, longest first where one is a prefix of another).
_UNITS: Mapping[str, str] = {
    "money": r"元|块|角",
    "length": r"光年|天文单位|公里|千米|厘米|毫米|米|km|cm|mm|m",
    "area": r"平方公里|平方米|平米|亩|公顷|㎡",
    "weight": r"吨|千克|公斤|克|斤|kg",
    "duration": r"个工作日|工作日|个小时|小时|个月|年|月|周|星期|天|日|钟头|分钟|秒",
    "age": r"周岁|岁",
}

#: Counters a question may name after 多少 / 几, and the counters an answer may use for it.
_COUNTERS: Mapping[str, str] = {
    "户": "户", "辆": "辆", "起": "起", "次": "次|人次", "倍": "倍", "届": "届", "期": "期", "篇": "篇", "台": "台",
    "张": "张", "层": "层", "栋": "栋|幢|座", "幢": "栋|幢|座", "所": "所|个", "座": "座|个", "家": "家|个|所",
    "项": "项|个|条", "条": "条|项|个", "种": "种|类|个", "类": "类|种|个", "人": "人|名|位|人次", "名": "人|名|位",
    "位": "人|名|位", "个": "个|家|所|座|处|支|项|类|种|条|批|户|名|人|位|件|台|辆|套|间",
}

#: What each question asks for, tried in this order (normalised question text).
_ASKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("time", re.compile(r"哪一年|哪年|何年|何时|什么时候|哪个时候|哪一天|哪天|几月|几号|几点|哪个月|哪个朝代|哪个世纪|"
                        r"哪个年代|^when|whatyear|whichyear|whatdate")),
    ("phone", re.compile(r"(?:电话|热线|手机|号码|传真)[^,.;?!，。；？！]{0,6}(?:多少|是什么|是几)|"
                         r"(?:phone|telephone|hotline|fax)number")),
    ("web", re.compile(r"(?:网址|网站地址|邮箱|电子邮件|email|website|url)[^,.;?!，。；？！]{0,6}(?:多少|是什么|是哪|在哪)|"
                       r"whatisthe(?:website|email|url)")),
    ("percentage", re.compile(r"(?:(?<![功频速])率|比例|比重|占比|百分比|份额)[^,.;?!，。；？！]{0,8}(?:多少|多高|多大|几成)|"
                              r"百分之几|几成|whatpercentage|whatproportion|whatshare|whatrate")),
    ("money", re.compile(r"多少钱|几块钱|多少元|几元|多少块|多少万元|"
                         r"(?:费|价|钱|工资|薪|资金|金额|罚款|补贴|奖励)[^,.;?!，。；？！]{0,8}(?:多少|几何)|"
                         r"howmuch(?:money|does|do|is|will|would|are)?(?:it)?cost|whatprice|whatfee|whatcost")),
    ("age", re.compile(r"多大年纪|多大岁数|几岁|多少岁|howold")),
    ("duration", re.compile(r"多久|多长时间|多少时间|多长的时间|几年|几个月|几天|几周|几个星期|几小时|几个小时|几分钟|"
                            r"多少年|多少天|多少个月|多少小时|多少个小时|多少分钟|多少个工作日|几个工作日|howlong|"
                            r"howmanyyears|howmanydays|howmanymonths|howmanyhours|howmanyminutes")),
    ("area", re.compile(r"多少平方米|多少平米|多少亩|多少公顷|多大面积|面积[^,.;?!，。；？！]{0,6}(?:多少|多大)")),
    ("weight", re.compile(r"多重|多少吨|多少公斤|多少千克|多少斤|howheavy")),
    ("extent", re.compile(r"多长")),  # 多长的考察期 (a duration) or 多长的线 (a length)
    ("length", re.compile(r"多高|多远|多深|多宽|多厚|多少米|多少公里|多少千米|多少厘米|几米|几公里|"
                          r"howfar|howtall|howhigh|howdeep|howwide|howthick")),
)
#: The first kinds of :data:`_ASKS` carry their own question word (什么时候, 电话是什么); the others are asked only
#: when the question has no other question word (谁, 如何, 是否, 吗 …).
_OWN_QUESTION_WORDS = 3
_OTHER_QUESTION = re.compile(r"谁|如何|怎么|怎样|为什么|为何|是否|能否|可否|吗|什么|哪些|哪个|哪里|哪儿|哪家|哪位")
#: 多少 / 几 followed by a counter the question names (多少户, 几个): a count of that counter.
_ASKS_COUNT = re.compile(r"(?:多少|几)(" + "|".join(sorted(_COUNTERS, key=len, reverse=True)) + ")")
#: Any other question for a number.
_ASKS_QUANTITY = re.compile(r"多少|几(?:成|级|批|部|本|场|件)|howmany|howmuch")

#: Counters and units after a number in an answer to "any quantity" (多少 with no counter).
_ANY_UNIT = (r"(?:个|名|位|人|岁|年|月|天|日|次|项|条|家|户|元|块|倍|级|类|种|批|届|期|小时|分钟|秒|周|座|所|间|部|本|"
             r"场|件|台|辆|张|层|成|公里|千米|米|厘米|平方米|亩|公顷|吨|千克|公斤|克|升|千瓦|瓦|伏|毫安|度|万|亿|千|百)")
#: A share: a percentage, a fraction, 几成 — also an answer to "how many" (三分之二以上的业主).
_SHARE = (r"[0-9]+(?:\.[0-9]+)?(?:%|‰)|百分之[零一二两三四五六七八九十百]|"
          r"[0-9一二两三四五六七八九十]+分之[0-9一二三四五六七八九十]|[一二两三四五六七八九十半]成")
#: A count given as a large round number without its counter (人口约2600万).
_ROUND = r"[0-9]+(?:\.[0-9]+)?(?:万|亿)"
_HOLDS: Mapping[str, re.Pattern[str]] = {
    "time": re.compile(r"[0-9〇零一二三四五六七八九]{4}年|[0-9]{1,2}月|[0-9]{1,2}日|[一二三四五六七八九十]{1,2}月|"
                       r"世纪|年代|年间|公元|朝代|期间|以来|之前|之后"),
    "quantity": re.compile(r"[0-9]+(?:[.,][0-9]+)*(?:%|‰|" + _ANY_UNIT[3:-1] + r"|kg|km|kw|mah|[gmwvh])|[0-9]{2,}|"
                           r"(?:[两二三四五六七八九十百千万亿半]|一[十百千万亿])[零〇一二两三四五六七八九十百千万亿]*" + _ANY_UNIT
                           + r"|百分之[零一二两三四五六七八九十百]"),
    "percentage": re.compile(_SHARE + r"|[0-9]+\.[0-9]+"),  # ratings and rates are often bare decimals
    "phone": re.compile(r"[0-9]{5,}|[0-9]{3,4}-[0-9]{7,8}"),
    "web": re.compile(r"https?:|www\.|[a-z0-9-]+\.(?:com|cn|org|net|gov)|[a-z0-9._-]+@[a-z0-9-]+\."),
    **{kind: re.compile(_NUMBER + r"(?:" + units + r")") for kind, units in _UNITS.items()},
    "extent": re.compile(_NUMBER + r"(?:" + _UNITS["length"] + "|" + _UNITS["duration"] + r")"),
}

#: How the reason line names each kind (Chinese, English).
_LABELS: Mapping[str, tuple[str, str]] = {
    "phone": ("电话号码", "a phone number"), "web": ("网址或邮箱", "a web or e-mail address"),
    "time": ("时间", "a time"), "quantity": ("数量", "a number"), "percentage": ("比例", "a percentage"),
    "money": ("金额", "a sum of money"), "length": ("长度", "a length"), "area": ("面积", "an area"),
    "weight": ("重量", "a weight"), "extent": ("长度或时长", "a length or a duration"),
    "duration": ("时长", "a duration"), "age": ("年龄", "an age"),
}


def asked_kind(question: str) -> str:
    """The kind of answer ``question`` asks for: ``"time"``, ``"money"``, ``"length"``, ``"area"``,
    ``"weight"``, ``"duration"``, ``"extent"`` (a length or a duration), ``"phone"``, ``"web"``, ``"age"``,
    ``"percentage"``, ``"count:户"`` (a count of the named counter), ``"quantity"`` (any number), or ``""``
    when it asks for none of these."""
    from .normalize import normalize

    text = normalize(question)
    for kind, asks in _ASKS[:_OWN_QUESTION_WORDS]:
        if asks.search(text):
            return kind
    for clause in reversed(re.split(r"[,;，；]", text)):
        if not _OTHER_QUESTION.search(clause):  # 谁来摸清有多少辆车: the number is not what it asks
            kind = _number_kind(clause)
            if kind:
                return kind
    return ""


def _number_kind(clause: str) -> str:
    for kind, asks in _ASKS[_OWN_QUESTION_WORDS:]:
        if asks.search(clause):
            return kind
    counted = _ASKS_COUNT.search(clause)
    if counted:
        return f"count:{counted.group(1)}"
    return "quantity" if _ASKS_QUANTITY.search(clause) else ""


def holds_kind(kind: str, text: str) -> bool:
    """Whether a normalised text holds an answer of ``kind`` (always, for the empty kind)."""
    if not kind:
        return True
    if kind.startswith("count:"):
        counters = _COUNTERS.get(kind[len("count:"):], kind[len("count:"):])
        number = _COUNT_NUMBER if kind == "count:个" else _NUMBER
        return bool(re.search(number + r"(?:" + counters + r")|" + _SHARE + "|" + _ROUND, text))
    return bool(_HOLDS[kind].search(text))


def kind_label(kind: str) -> tuple[str, str]:
    """How the reason line names a kind of answer (Chinese, English)."""
    if kind.startswith("count:"):
        counter = kind[len("count:"):]
        return f"以“{counter}”计的数量", f'a count of "{counter}"'
    return _LABELS.get(kind, _LABELS["quantity"])
