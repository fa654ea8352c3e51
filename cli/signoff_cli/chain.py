"""The verdict hash chain checked on the client: each hash recomputed and each link followed, trusting no server check.

The canonical form is the server's (reviews/services/chain.py, `verdict_hash`), written again here because the CLI
must run without Django: SHA-256 over `json.dumps(content, sort_keys=True, separators=(",", ":"))` (ASCII, non-ASCII
escaped) of the verdict's campaign id, decision, rationale, signer's username, signed_at as Python's isoformat in
UTC, evidence and previous_hash. tests/test_cli_chain.py holds the two to the same answer on real verdicts.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64


class ChainFormatError(Exception):
    """A verdict from the server lacks a field the hash covers, or has one in a form that cannot be hashed."""


def canonical_signed_at(text: str) -> str:
    """The API writes UTC as `...Z` (DRF); the hash was taken over Python's `isoformat()` of the UTC time (`+00:00`).
    Parsing and writing it again gives exactly that, microseconds included (and left out when they are zero)."""
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ChainFormatError(f"signed_at {text!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ChainFormatError(f"signed_at {text!r} has no time zone")
    # not datetime.UTC: the CLI supports Python 3.10, which lacks it
    return moment.astimezone(datetime.timezone.utc).isoformat()  # noqa: UP017


HASHED_FIELDS = ("campaign", "decision", "rationale", "signer", "signed_at", "evidence", "previous_hash")


def verdict_hash(verdict: dict[str, Any]) -> str:
    """What the server's `verdict_hash` gives for this verdict, computed from the API's fields."""
    missing = [name for name in HASHED_FIELDS if name not in verdict]
    if missing:
        raise ChainFormatError(f"verdict {verdict.get('id', '?')} lacks {', '.join(missing)}")
    content = {name: verdict[name] for name in HASHED_FIELDS}
    content["signed_at"] = canonical_signed_at(str(verdict["signed_at"]))
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Broken:
    """The first link that does not hold: which verdict, where it sits in the chain, and what is wrong, in words."""

    verdict_id: int
    position: int  # 1-based
    reason: str

    def __str__(self) -> str:
        return f"verdict {self.verdict_id} (number {self.position} in the chain): {self.reason}"


def chain_first_break(verdicts: list[dict[str, Any]]) -> Broken | None:
    """Walk the chain oldest first: each verdict must link to the hash of the one before it (the first to 64 zeros)
    and its stored hash must be the hash of its content. The first that fails is the one to look at: every later
    link may only be broken because of it."""
    expected_previous = GENESIS_HASH
    previous_id: int | None = None
    for position, verdict in enumerate(verdicts, start=1):
        verdict_id = verdict.get("id", 0)
        if verdict.get("previous_hash") != expected_previous:
            before = (
                f"verdict {previous_id}'s hash {expected_previous[:12]}…"
                if previous_id is not None
                else "64 zeros, as the first verdict must"
            )
            return Broken(
                verdict_id,
                position,
                f"it links to {str(verdict.get('previous_hash'))[:12]}…, not to {before}: a verdict before it was "
                "deleted, or this link was edited",
            )
        recomputed = verdict_hash(verdict)
        if verdict.get("hash") != recomputed:
            return Broken(
                verdict_id,
                position,
                f"its content does not match its hash (stored {str(verdict.get('hash'))[:12]}…, recomputed "
                f"{recomputed[:12]}…): edited after it was signed",
            )
        expected_previous, previous_id = recomputed, verdict_id
    return None


def chain_prefix_problem(verdicts: list[dict[str, Any]], *, head: str, count: int) -> str | None:
    """Does the chain still start with the `count` verdicts ending in `head` that an earlier run saw?"""
    if len(verdicts) < count:
        return (
            f"an earlier run saw {count} verdicts ending in {head[:12]}…, the server now lists {len(verdicts)}: "
            "verdicts were deleted"
        )
    at = verdicts[count - 1]
    if at.get("hash") != head:
        return (
            f"verdict {at.get('id')} is number {count} in the chain, but an earlier run saw another verdict there "
            f"(hash {head[:12]}…): the chain was rewritten at or before it"
        )
    return None
