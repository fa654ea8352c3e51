"""What each kind of upload is for: the fields its rows hold, how its target is named, which task ingests it.

The registry lets apps above datasets (the model registry's predictions) plug their uploads into the shared
machinery (resumable uploads, background ingest, recovery) without datasets importing them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.queue import task_enqueue


@dataclass(frozen=True)
class UploadKind:
    fields: set[str]
    # turns client-given names ({"dataset": "qa"}) into the stored target, raising NotFoundError when absent
    resolve_target: Callable[[dict[str, str]], dict[str, Any]]
    task_name: str

    def enqueue(self, upload_id: int) -> None:
        task_enqueue(self.task_name, args=[upload_id])


_KINDS: dict[str, UploadKind] = {}


def register(kind: str, upload_kind: UploadKind) -> None:
    _KINDS[kind] = upload_kind


def get(kind: str) -> UploadKind | None:
    """The kind a client names, None when there is no such kind."""
    return _KINDS.get(kind)


def registered(kind: str) -> UploadKind:
    """A kind that must exist (KeyError if not): one the code names, or a stored upload's, registered when it was
    made. A name from a client goes through get()."""
    return _KINDS[kind]


def names() -> list[str]:
    return sorted(_KINDS)
