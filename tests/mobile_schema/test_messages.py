from __future__ import annotations

import re

import pytest

from mobile_schema import MESSAGES, Issue, format_message
from mobile_schema.messages import LANGUAGES

PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_every_message_in_both_languages_with_same_placeholders(code):
    entry = MESSAGES[code]
    assert set(entry) == set(LANGUAGES)
    assert all(entry[lang].strip() for lang in LANGUAGES)
    assert set(PLACEHOLDER.findall(entry["en"])) == set(PLACEHOLDER.findall(entry["zh"]))
    assert re.search(r"[\u4e00-\u9fff]", entry["zh"]), "zh message should be Chinese"


def test_every_code_used_by_the_package_has_a_message():
    import pathlib

    root = pathlib.Path(__import__("mobile_schema").__file__).parent
    used = set()
    for path in root.rglob("*.py"):
        text = path.read_text("utf-8")
        used |= set(re.findall(r'(?:code|error)="([a-z_]+)"', text))
        used |= set(re.findall(r'Issue\([^,]+, "([a-z_]+)"', text))
    assert used - set(MESSAGES) == set()


def test_formatting():
    issue = Issue(
        "data.x", "zero_report_nonzero", {"label": {"en": "Close contacts", "zh": "密切接触者数"}, "value": 2}
    )
    assert issue.message() == "a zero report needs every abnormal count at 0, but Close contacts is 2"
    assert "密切接触者数" in issue.message("zh")
    assert format_message("invalid_choice", {"choices": ["a", "b"]}) == "must be one of: a, b"
    assert format_message("too_large") == "must be at most {max}"
    with pytest.raises(ValueError):
        issue.message("fr")
