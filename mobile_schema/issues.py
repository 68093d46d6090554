"""The ``Issue`` value returned by every check in this package."""

from __future__ import annotations

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


def format_forbidden(issue: Issue) -> str:
    """The text ``validate_doc_update`` puts in ``{forbidden: ...}`` for this issue."""
    return f"{issue.field}: {issue.message('en')} / {issue.message('zh')}"
