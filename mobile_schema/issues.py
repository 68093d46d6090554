"""The ``Issue`` value returned by every check in this package."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from .messages import format_message


@dataclass(frozen=True)
class Issue:
    """One problem found in a document.

    ``field`` is a dotted path into the document ("data.students_present",
    "data.items.3.item_id", "_id", "meta.device"); ``code`` names the problem
    and keys the message catalogue; ``params`` fill the message.
    """

    field: str
    code: str
    params: dict[str, Any] = dc_field(default_factory=dict, compare=True, hash=False)

    def message(self, lang: str = "en") -> str:
        """The human message in "en" or "zh". Raises ``ValueError`` for another language."""
        return format_message(self.code, self.params, lang)

    def prefixed(self, prefix: str) -> Issue:
        """The same issue with ``prefix.`` put in front of its field path."""
        path = f"{prefix}.{self.field}" if self.field else prefix
        return Issue(path, self.code, self.params)


#: A refusal spells out at most this many issues and counts the rest (a broken
#: 500-entry checklist must not make a 50 kB answer).
FORBIDDEN_MAX_ISSUES = 10


def format_forbidden(issues: Sequence[Issue]) -> str:
    """The text ``validate_doc_update`` puts in ``{forbidden: ...}`` for these issues.

    Each issue reads ``field: English / Chinese``; they are joined by "; ", the first
    ``FORBIDDEN_MAX_ISSUES`` spelled out and the rest counted. Raises ``ValueError``
    for no issues (nothing to refuse).
    """
    if not issues:
        raise ValueError("no issues to refuse a document for")
    parts = [f"{i.field}: {i.message('en')} / {i.message('zh')}" for i in issues[:FORBIDDEN_MAX_ISSUES]]
    rest = len(issues) - FORBIDDEN_MAX_ISSUES
    if rest > 0:
        more = {"count": rest}
        parts.append(f"{format_message('more_issues', more, 'en')} / {format_message('more_issues', more, 'zh')}")
    return "; ".join(parts)
