"""The kinds of e-mail notification there are: each app above registers its own (in its AppConfig.ready()), so this
app sends and lets people opt out without knowing what a campaign or a webhook is (see datasets/upload_kinds.py)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class NotificationKind:
    name: str  # stored on each notification and preference: never rename one
    label: str  # the preference form's checkbox
    help: str = ""


_KINDS: dict[str, NotificationKind] = {}


def register(kind: NotificationKind) -> None:
    _KINDS[kind.name] = kind


def registered(name: str) -> NotificationKind:
    """A kind the code names (KeyError if no app registered it: a typo fails in the caller's test, not silently)."""
    return _KINDS[name]


def all_kinds() -> list[NotificationKind]:
    return [_KINDS[name] for name in sorted(_KINDS)]
