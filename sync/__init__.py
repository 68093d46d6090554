"""The sync worker and the CouchDB access layer.

The public surface the service and the demo use::

    from sync import Worker, WorkerSettings, run_until_idle, ConflictResolver, apply_review_decision
"""

from sync.conflicts import ConflictResolver, Resolution
from sync.merge import MergeResult, merge_leaves
from sync.reviews import ReviewError, apply_review_decision
from sync.settings import WorkerSettings
from sync.worker import Worker, run_until_idle

__all__ = [
    "ConflictResolver",
    "MergeResult",
    "Resolution",
    "ReviewError",
    "Worker",
    "WorkerSettings",
    "apply_review_decision",
    "merge_leaves",
    "run_until_idle",
]
