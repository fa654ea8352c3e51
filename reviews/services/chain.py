"""The verdict hash chain: what a verdict's hash covers, and the checks that find an edited, deleted or rewritten chain.

Each verdict stores `previous_hash` (its predecessor's `hash`, or GENESIS_HASH for the first) and `hash`, SHA-256
over its content and `previous_hash` (`verdict_hash`). A check (`verdict_chain_check`) walks the verdicts in id
order and compares them with two anchors kept outside the verdict table: the newest check that passed (or that an
admin acknowledged), whose length and head must still be found at the same position; and the `verdict.signed`
webhook outbox, whose payloads carry `chain_count` and `chain_head` as they were at each sign-off.

What an attacker with write access to the database can and cannot hide:

- Editing any hashed field of a verdict (campaign, decision, rationale, signer, signed_at, evidence,
  previous_hash) without recomputing its hash is found at the next check: the content no longer matches the hash.
  Renaming the signer's user account is found too (the hash covers the username): rename no one who has signed.
- Editing a verdict and recomputing its hash breaks the next verdict's link; deleting a verdict from the middle
  breaks the link of the one after it. Both are found at the next check.
- Deleting the newest verdicts, or rewriting the chain from some verdict to its end with fresh hashes, leaves a
  chain that is consistent in itself. It is found only through the anchors: the last passing check had more
  verdicts, or another hash at that position; a `verdict.signed` delivery in the outbox announced a longer chain
  or another head.
- It cannot be found by the server when the attacker also rewrites or deletes those anchors (the ChainCheck rows
  and the outbox payloads), which live in the same database: everything inside the database can be rewritten
  consistently, and then every check passes. The same attacker can also delete a failed check or fill in its
  acknowledgment, which lifts the banner and the block on sign-offs: they are an alarm for honest mistakes and
  clumsy tampering, not a security boundary against database writers.
- What they cannot change is what left the database before: the `verdict.signed` messages webhook receivers
  already got (each carries `chain_count` and `chain_head`, signed with the endpoint's secret), and the head and
  count a CI job saved from an earlier `signoff chain verify`, which `signoff chain verify --head H --count N`
  compares with the server's chain. A rewrite or truncation of anything those copies covered is then visible.
- Webhook signatures do not stop a database writer from sending new messages: the worker signs whatever is in the
  outbox, so an inserted delivery goes out validly signed (with the current timestamp, since the signature is
  made at sending). It cannot change or withdraw messages already delivered, so a receiver that keeps every
  message holds an append-only record of heads. The signing secrets are encrypted with a key derived from
  SECRET_KEY, which is not in the database (the embedded default keeps it in var/, beside the SQLite file: whoever
  can write that folder has both).
- Nothing catches tampering that is undone before the next check, a deleted verdict no check and no outbox row
  (no subscribed endpoint) ever saw, or changes outside the verdict table: a model version's stage, stage
  transitions, approvals, or the campaign a verdict points to. The chain vouches for the verdict record only.
"""

import datetime
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from core.errors import ApplicationError, ConflictError, ForbiddenError
from core.models import User
from reviews.models import ChainCheck, Verdict
from webhooks.models import WebhookDelivery

GENESIS_HASH = "0" * 64
# Problems are stored in ChainCheck.reason joined by this, and split on it to tell a known breakage from a new one:
# none of their texts contains it (they are built here, with no user text in them).
REASON_SEPARATOR = "; "
# How many of the newest verdict.signed deliveries the sign-off guard reads (one a subscribed endpoint per verdict).
GUARD_OUTBOX_ROWS = 50


def verdict_hash(*, verdict: Verdict) -> str:
    """SHA-256 over the verdict's content and its predecessor's hash: editing any past verdict breaks the chain."""
    content = {
        "campaign": verdict.campaign_id,
        "decision": verdict.decision,
        "rationale": verdict.rationale,
        "signer": verdict.signer.username,
        "signed_at": verdict.signed_at.isoformat(),
        "evidence": verdict.evidence,
        "previous_hash": verdict.previous_hash,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def verdict_chain_in_order() -> QuerySet[Verdict]:
    """The verdicts in the order they were chained (id), with what `verdict_hash` reads, for a client to recompute."""
    return Verdict.objects.select_related("signer").order_by("id")


@dataclass(frozen=True)
class Problem:
    text: str
    verdict_id: int | None = None  # the verdict that does not hold; None for verdicts that are gone


# (verdict id, stored hash) at a 1-based position in the chain, or None past its end
PositionLookup = Callable[[int], tuple[int, str] | None]


def _when(check: ChainCheck) -> str:
    return f"check #{check.pk} at {check.checked_at.astimezone(datetime.UTC):%Y-%m-%d %H:%M:%S} UTC"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _own_problems(verdict: Verdict, *, previous: tuple[int, str] | None, linked_to: int | None) -> list[Problem]:
    """Does this verdict hold by itself, and does it link to the verdict just before it (`previous`, by id)?
    `linked_to` is the id of the verdict whose hash its previous_hash names, if any."""
    problems = []
    previous_id, expected = previous if previous else (None, GENESIS_HASH)
    if verdict.previous_hash != expected:
        if verdict.previous_hash == GENESIS_HASH:
            text = f"verdict {verdict.pk}: it claims to start the chain, but verdict {previous_id} comes before it"
        elif linked_to is not None:
            text = f"verdict {verdict.pk}: it follows verdict {linked_to}, not verdict {previous_id} just before it (relinked)"
        else:
            text = (
                f"verdict {verdict.pk}: the verdict it follows (hash {verdict.previous_hash[:12]}…) is not in the "
                "chain: deleted, or this link was edited"
            )
        problems.append(Problem(text, verdict.pk))
    if verdict.hash != verdict_hash(verdict=verdict):
        problems.append(Problem(f"verdict {verdict.pk}: its content does not match its hash (edited)", verdict.pk))
    return problems


def _anchor_problems(
    *, count: int, last_id: int | None, at: PositionLookup, anchor: ChainCheck | None
) -> list[Problem]:
    """The newest passing (or acknowledged) check saw `anchor.count` verdicts ending in `anchor.head`."""
    if anchor is None or anchor.count == 0:
        return []
    if count < anchor.count:
        where = f"after verdict {last_id}" if last_id else "(the chain is now empty)"
        return [
            Problem(
                f"{_plural(anchor.count - count, 'verdict')} missing {where}: the chain had {anchor.count} "
                f"at the last check ({_when(anchor)}), ending in {anchor.head[:12]}…, and now it has {count}"
            )
        ]
    verdict_id, stored = at(anchor.count)  # type: ignore[misc]
    if stored != anchor.head:
        return [
            Problem(
                f"verdict {verdict_id}: it is number {anchor.count} in the chain, but the last check "
                f"({_when(anchor)}) saw another verdict there (hash {anchor.head[:12]}…): the chain was "
                "rewritten at or before it",
                verdict_id,
            )
        ]
    return []


# (delivery id, chain_count, chain_head, verdict id) as a verdict.signed delivery announced them
OutboxClaim = tuple[int, int, str, object]


def _outbox_claims(*, since: datetime.datetime | None, limit: int | None = None) -> list[OutboxClaim]:
    """(delivery id, chain_count, chain_head, verdict id) of each verdict.signed delivery that carries them,
    newest first. Deliveries from before an acknowledgment are left out: the admin accepted the chain as it was."""
    deliveries = WebhookDelivery.objects.filter(event="verdict.signed").order_by("-id")
    if since is not None:
        deliveries = deliveries.filter(created_at__gt=since)
    claims: list[OutboxClaim] = []
    rows = deliveries.values_list("pk", "payload")
    for pk, payload in (rows[:limit] if limit else rows).iterator(chunk_size=500):
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, dict):
            continue
        count, head = data.get("chain_count"), data.get("chain_head")
        if isinstance(count, int) and count >= 1 and isinstance(head, str):  # older deliveries carry neither
            claims.append((pk, count, head, data.get("verdict")))
    return claims


def _outbox_problems(
    *, count: int, last_id: int | None, at: PositionLookup, claims: list[OutboxClaim]
) -> list[Problem]:
    """Every delivery's (chain_count, chain_head) must still be found; the one with the largest count is reported."""
    failing = []
    for delivery_id, claimed_count, claimed_head, verdict in claims:
        if claimed_count > count:
            failing.append(
                (
                    claimed_count,
                    Problem(
                        f"{_plural(claimed_count - count, 'verdict')} missing after verdict {last_id}: the webhook outbox "
                        f"(delivery {delivery_id}, verdict {verdict}) announced a chain of {claimed_count} ending in "
                        f"{claimed_head[:12]}…, and now it has {count}"
                        if last_id
                        else f"all {claimed_count} verdicts the webhook outbox announced (delivery {delivery_id}) are missing"
                    ),
                )
            )
        else:
            verdict_id, stored = at(claimed_count)  # type: ignore[misc]
            if stored != claimed_head:
                failing.append(
                    (
                        claimed_count,
                        Problem(
                            f"verdict {verdict_id}: it is number {claimed_count} in the chain, but the webhook outbox "
                            f"(delivery {delivery_id}, verdict {verdict}) announced another verdict there (hash "
                            f"{claimed_head[:12]}…): the chain was rewritten at or before it",
                            verdict_id,
                        ),
                    )
                )
    return [max(failing, key=lambda pair: pair[0])[1]] if failing else []


@dataclass(frozen=True)
class Anchors:
    check: ChainCheck | None  # the newest check that passed or was acknowledged: the length and head to hold to
    acknowledged: ChainCheck | None  # the newest acknowledged check: its time rebases the outbox
    known: frozenset[str]  # problems acknowledged since the chain last held: still reported, no longer blocking


def _anchors() -> Anchors:
    passed = ChainCheck.objects.filter(ok=True).first()
    acknowledged = ChainCheck.objects.filter(acknowledged_at__isnull=False).first()
    if acknowledged is None or (passed is not None and passed.pk > acknowledged.pk):
        return Anchors(passed, acknowledged, frozenset())  # once a check passes again, any problem is new
    reasons = (
        ChainCheck.objects.filter(acknowledged_at__isnull=False, pk__gt=passed.pk if passed else 0)
        .order_by()
        .values_list("reason", flat=True)
        .distinct()
    )
    return Anchors(acknowledged, acknowledged, frozenset(t for r in reasons for t in r.split(REASON_SEPARATOR) if t))


@dataclass(frozen=True)
class Walk:
    ids: list[int]
    hashes: list[str]
    problems: list[Problem]

    def at(self, position: int) -> tuple[int, str] | None:
        return (self.ids[position - 1], self.hashes[position - 1]) if 0 < position <= len(self.ids) else None


def _walk() -> Walk:
    """Every verdict in id order (the order they were chained in), checked against itself and its predecessor."""
    ids: list[int] = []
    hashes: list[str] = []
    position_of: dict[str, int] = {}
    problems: list[Problem] = []
    for verdict in Verdict.objects.select_related("signer").order_by("id").iterator(chunk_size=100):
        previous = (ids[-1], hashes[-1]) if ids else None
        linked = position_of.get(verdict.previous_hash)
        problems += _own_problems(verdict, previous=previous, linked_to=ids[linked] if linked is not None else None)
        position_of[verdict.hash] = len(ids)
        ids.append(verdict.pk)
        hashes.append(verdict.hash)
    return Walk(ids, hashes, problems)


def verdict_chain_verify() -> Verdict | None:
    """The first verdict whose own hash or link does not hold, or None (the verdict table alone, no anchors)."""
    broken = [p.verdict_id for p in _walk().problems if p.verdict_id is not None]
    return Verdict.objects.get(pk=min(broken)) if broken else None


def _record(*, trigger: str, count: int, head: str, problems: list[Problem], anchors: Anchors | None) -> ChainCheck:
    texts = list(dict.fromkeys(p.text for p in problems))
    broken = [p.verdict_id for p in problems if p.verdict_id is not None]
    check = ChainCheck(
        trigger=trigger,
        ok=not problems,
        count=count,
        head=head,
        broken_at=min(broken) if broken else None,
        reason=REASON_SEPARATOR.join(texts),
    )
    if problems and anchors and anchors.known and set(texts) <= anchors.known:
        # Nothing new since the admin's acknowledgment: it carries over (same admin, time and note), so a breakage
        # that cannot be repaired (an edited verdict stays edited) does not block sign-offs forever.
        acknowledged = anchors.acknowledged
        check.acknowledged_by_id = acknowledged.acknowledged_by_id  # type: ignore[union-attr]
        check.acknowledged_at = acknowledged.acknowledged_at  # type: ignore[union-attr]
        check.acknowledgment_note = acknowledged.acknowledgment_note  # type: ignore[union-attr]
    check.save()
    return check


def verdict_chain_check(*, trigger: str) -> ChainCheck:
    """Walk the whole chain, compare it with the anchors outside the verdict table, and record the result.

    O(verdicts): it reads every verdict's evidence. The anchors are read before the verdicts, so a verdict signed
    during the walk can only be missing from both, never announced by the outbox yet absent from the walk."""
    anchors = _anchors()
    claims = _outbox_claims(since=anchors.acknowledged.checked_at if anchors.acknowledged else None)
    walk = _walk()
    count, last_id = len(walk.ids), (walk.ids[-1] if walk.ids else None)
    problems = walk.problems + _anchor_problems(count=count, last_id=last_id, at=walk.at, anchor=anchors.check)
    problems += _outbox_problems(count=count, last_id=last_id, at=walk.at, claims=claims)
    return _record(
        trigger=trigger, count=count, head=walk.hashes[-1] if walk.hashes else "", problems=problems, anchors=anchors
    )


def _position_from_database(position: int) -> tuple[int, str] | None:
    rows = list(Verdict.objects.order_by("id").values_list("id", "hash")[position - 1 : position])
    return (rows[0][0], rows[0][1]) if rows else None


def chain_blocking_check() -> ChainCheck | None:
    """The newest check, if it is broken and no admin has acknowledged it: while there is one, no one signs off."""
    newest = ChainCheck.objects.order_by("-id").first()
    return newest if newest and not newest.ok and newest.acknowledged_at is None else None


def _blocked(check: ChainCheck) -> ConflictError:
    return ConflictError(
        f"Sign-offs are blocked: the verdict chain failed {_when(check)}: {check.reason}. "
        "An admin must look into it and acknowledge it (Verdict chain page, or POST /api/v1/verdicts/verify/acknowledge/).",
        code="chain_broken",
        extra={"check": check.pk, "broken_at": check.broken_at, "reason": check.reason},
    )


def verdict_chain_guard() -> None:
    """Before a sign-off: refuse while a broken check is unacknowledged, then look at the chain's tail so a new
    verdict is never chained onto a head that was cut off or edited since the last check.

    The full walk reads every verdict's evidence, too slow to run per sign-off; this reads the newest verdict, the
    one before it, the hash at the anchors' positions (an index scan of ids) and the newest outbox rows. Edits
    further back are left to the hourly check (beat) and `verdict_chain_check` on demand. A problem found here is
    recorded (trigger signoff) before the refusal, outside the sign-off's transaction, so it is not rolled back."""
    blocking = chain_blocking_check()
    if blocking:
        raise _blocked(blocking)
    anchors = _anchors()
    claims = _outbox_claims(
        since=anchors.acknowledged.checked_at if anchors.acknowledged else None, limit=GUARD_OUTBOX_ROWS
    )
    head = Verdict.objects.select_related("signer").order_by("-id").first()
    count = Verdict.objects.count()
    problems: list[Problem] = []
    if head:
        previous = Verdict.objects.filter(id__lt=head.pk).order_by("-id").values_list("id", "hash").first()
        linked = (
            Verdict.objects.filter(hash=head.previous_hash).exclude(pk=head.pk).values_list("id", flat=True).first()
        )
        problems += _own_problems(head, previous=previous, linked_to=linked)
    last_id = head.pk if head else None
    problems += _anchor_problems(count=count, last_id=last_id, at=_position_from_database, anchor=anchors.check)
    problems += _outbox_problems(count=count, last_id=last_id, at=_position_from_database, claims=claims)
    # A breakage an admin acknowledged is let through, and not recorded: nothing new was learnt.
    if problems and not {p.text for p in problems} <= anchors.known:
        raise _blocked(
            _record(
                trigger=ChainCheck.Trigger.SIGNOFF,
                count=count,
                head=head.hash if head else "",
                problems=problems,
                anchors=None,
            )
        )


def chain_prefix_problem(*, head: str, count: int) -> str | None:
    """What is wrong if the server's chain no longer starts with the `count` verdicts ending in `head` that a
    client (CI, a webhook receiver) saw before; None when it still does."""
    total = Verdict.objects.count()
    if total < count:
        return (
            f"you saw a chain of {count} verdicts ending in {head[:12]}…, but the server has only {total}: "
            f"{_plural(count - total, 'verdict')} deleted"
        )
    verdict_id, stored = _position_from_database(count)  # type: ignore[misc]
    if stored != head:
        return (
            f"verdict {verdict_id} is number {count} in the server's chain, but you saw another verdict there "
            f"(hash {head[:12]}…): the chain was rewritten at or before it"
        )
    return None


def chain_check_summary(*, check: ChainCheck) -> dict:
    return {
        "ok": check.ok,
        "count": check.count,
        "head": check.head,
        "broken_at": check.broken_at,
        "reason": check.reason,
    }


def verdict_chain_report(*, trigger: str, head: str | None = None, count: int | None = None) -> dict:
    """Run and record a check; with head and count, also whether the server's chain still starts with what the
    caller saw. That comparison is the caller's claim, so it is answered but not recorded: a wrong or stale
    value from one client must not block everyone's sign-offs."""
    summary = chain_check_summary(check=verdict_chain_check(trigger=trigger))
    problem = chain_prefix_problem(head=head, count=count) if head is not None and count is not None else None
    if problem:
        summary["ok"] = False
        summary["reason"] = REASON_SEPARATOR.join(filter(None, [summary["reason"], problem]))
    return summary


def verdict_integrity_problems(*, verdict: Verdict) -> list[str]:
    """For the verdict's page: does its own hash hold, and does it link to the verdict before it?"""
    previous = Verdict.objects.filter(id__lt=verdict.pk).order_by("-id").values_list("id", "hash").first()
    linked = (
        Verdict.objects.filter(hash=verdict.previous_hash).exclude(pk=verdict.pk).values_list("id", flat=True).first()
    )
    return [p.text for p in _own_problems(verdict, previous=previous, linked_to=linked)]


@transaction.atomic
def chain_check_acknowledge(*, admin: User, note: str) -> ChainCheck:
    """An admin has looked into the newest (broken) check. Sign-offs work again, and the check becomes the anchor:
    later checks hold the chain to its length and head, and a breakage it already listed no longer blocks."""
    if not admin.has_role(User.Role.ADMIN):
        raise ForbiddenError("Only an admin can acknowledge a broken verdict chain.", code="not_an_admin")
    if not note.strip():
        raise ApplicationError(
            "Say what you found and did: a note is required.", code="invalid", extra={"field": "note"}
        )
    check = ChainCheck.objects.select_for_update().order_by("-id").first()
    if check is None or check.ok or check.acknowledged_at is not None:
        raise ConflictError(
            "The newest chain check is not broken, or is already acknowledged: nothing to acknowledge.",
            code="nothing_to_acknowledge",
        )
    check.acknowledged_by = admin
    check.acknowledged_at = timezone.now()
    check.acknowledgment_note = note.strip()
    check.save(update_fields=["acknowledged_by", "acknowledged_at", "acknowledgment_note"])
    return check
