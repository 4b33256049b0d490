"""``check_text``'s fast path (issue 16: validation is most of a batch's cost): a printable
string is accepted without looking at its characters one by one. That is sound only if no
printable character is one the slow path refuses, in either kind of field — checked here for
every code point."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from gdcluster.engine.errors import InvalidInput
from gdcluster.engine.text import BIDI_CONTROLS, check_text


def test_no_printable_character_is_one_the_rule_refuses() -> None:
    printable = [chr(code) for code in range(sys.maxunicode + 1) if chr(code).isprintable()]
    refused = [ch for ch in printable
               if ch in BIDI_CONTROLS or ch in "\ufffe\uffff"
               or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp")]
    assert len(printable) > 100_000 and refused == []


@pytest.mark.parametrize("value", ["佛山市南海区\u200e铝型材", "名称\u2028第二行", "零宽\u200b空格",
                                   "控制\x07字符", "\ufeff开头"])
def test_chinese_text_with_a_refused_character_is_still_refused(value: str) -> None:
    with pytest.raises(InvalidInput, match="U\\+"):
        check_text(value, "name", one_line=True)


def test_chinese_text_and_its_line_breaks_pass_as_before() -> None:
    assert check_text("广东省　铝型材产业集群", "name", one_line=True) == "广东省　铝型材产业集群"
    assert check_text("第一行\n第二行\t完", "reason", one_line=False) == "第一行\n第二行\t完"
