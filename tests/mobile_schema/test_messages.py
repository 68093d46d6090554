from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobile_schema import MESSAGES, Issue, format_message
from mobile_schema.messages import LANGUAGES, format_param

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


@settings(max_examples=5, deadline=None)
@given(st.lists(st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**70), 2**70)),
                min_size=50, max_size=50))
def test_numbers_in_messages_read_as_javascript_writes_them(values):
    """The database's messages come from JavaScript: Python must print numbers the same way."""
    import json
    import subprocess

    script = "const v = JSON.parse(require('fs').readFileSync(0, 'utf8')); console.log(JSON.stringify(v.map(String)))"
    js = json.loads(subprocess.run(["node", "-e", script], input=json.dumps(values), capture_output=True,
                                   text=True, check=True).stdout)
    assert [format_param(v, "en") for v in values] == js
