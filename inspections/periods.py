"""Schedule periods: "7d", "12h", "30m", "5s" to seconds, and which period a moment falls in. Pure."""

import re
from datetime import datetime, timedelta

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_EVERY = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
MAX_EVERY_SECONDS = 366 * 86400


def parse_every(text: str) -> int:
    """Seconds in `text` ("7d", "1d", "12h", "30m", "10s", "2w"); ValueError saying what is accepted otherwise."""
    match = _EVERY.match(text or "")
    seconds = int(match.group(1)) * UNITS[match.group(2)] if match else 0
    if not 1 <= seconds <= MAX_EVERY_SECONDS:
        raise ValueError(
            f"{text!r} is not a period: give a number and a unit (s, m, h, d, w), e.g. 7d or 12h, up to a year."
        )
    return seconds


def format_every(seconds: int) -> str:
    for unit in ("w", "d", "h", "m"):
        if seconds % UNITS[unit] == 0:
            return f"{seconds // UNITS[unit]}{unit}"
    return f"{seconds}s"


def last_complete_period(anchor: datetime, every_seconds: int, now: datetime) -> tuple[datetime, datetime] | None:
    """The latest [start, end) with start = anchor + k * every and end <= now; None before the first one ends."""
    elapsed = (now - anchor).total_seconds()
    complete = int(elapsed // every_seconds)
    if complete < 1:
        return None
    end = anchor + timedelta(seconds=complete * every_seconds)
    return end - timedelta(seconds=every_seconds), end
