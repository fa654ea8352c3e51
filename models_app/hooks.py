"""The registry's extension points: apps above it (integrations) react to stage changes and add a panel to a version's
page, without the registry importing them. They register from their AppConfig.ready(), as datasets/upload_kinds.py
lets apps plug in uploads."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models_app.models import ModelVersion, StageTransition

# Called inside the stage change's transaction, after the transition row is written: a listener that writes an
# outbox row commits or rolls back with the change itself. A listener must not call out over the network.
StageListener = Callable[["StageTransition"], None]
# Returns None, or {"template": "<name>.html", ...context} for a card on the version's page.
VersionPanel = Callable[["ModelVersion"], dict[str, Any] | None]

_stage_listeners: list[StageListener] = []
_version_panels: list[VersionPanel] = []


def on_stage_change(listener: StageListener) -> None:
    if listener not in _stage_listeners:  # ready() may run twice in one process (tests, management commands)
        _stage_listeners.append(listener)


def stage_changed(transition: StageTransition) -> None:
    for listener in _stage_listeners:
        listener(transition)


def add_version_panel(panel: VersionPanel) -> None:
    if panel not in _version_panels:
        _version_panels.append(panel)


def version_panels(version: ModelVersion) -> list[dict[str, Any]]:
    return [shown for panel in _version_panels if (shown := panel(version)) is not None]
