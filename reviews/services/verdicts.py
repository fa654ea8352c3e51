"""Sign-off: the approver's verdict, the stage change it causes and the webhooks it sends, all or nothing."""

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from core.errors import ApplicationError, ConflictError, ForbiddenError
from core.models import User
from models_app.models import ModelVersion
from models_app.services.registry import model_version_payload, model_version_set_stage
from notifications.services import absolute_url
from reviews.gate import GatePolicy
from reviews.models import Approval, Campaign, Verdict
from reviews.report import report_html
from reviews.results import campaign_evidence
from reviews.selectors import campaign_uploader_ids

# The chain's hashing and checks live in chain.py; GENESIS_HASH, verdict_hash and verdict_chain_verify are
# imported here too for callers that know them from this module.
from reviews.services.chain import GENESIS_HASH, verdict_chain_guard, verdict_chain_verify, verdict_hash  # noqa: F401
from reviews.services.lifecycle import campaigns_close_for_candidate
from reviews.services.notices import campaigns_ended_notify
from webhooks.services import webhook_event_publish

CHAIN_RETRIES = 3


def campaign_signer_problem(*, campaign: Campaign, signer: User) -> str | None:
    """Why this user may not sign this campaign off, or None if they may (separation of duties)."""
    if not signer.has_role(User.Role.APPROVER):
        return "Only an approver can sign off."
    if signer.pk in campaign_uploader_ids(campaign=campaign):
        return "You uploaded this candidate or set up its campaign; another approver must sign it off."
    return None


def _check_signer(campaign: Campaign, signer: User) -> None:
    problem = campaign_signer_problem(campaign=campaign, signer=signer)
    if problem:
        code = "not_an_approver" if not signer.has_role(User.Role.APPROVER) else "separation_of_duties"
        raise ForbiddenError(problem, code=code)


def verdict_gate_figures(*, evidence: dict) -> dict:
    """What the gate computed, frozen at sign-off, for a deploy job that must not call back: the win rate with its
    95% interval, how many judgments and items it rests on, the test and the policy it was held to."""
    results = evidence["results"]
    gate = results["gate"]
    policy = {key: value for key, value in results.get("policy", {}).items() if key != "text"}
    return {
        "status": gate.get("status"),
        "win_rate": results.get("win_rate"),  # {estimate, low, high}: Wilson 95%
        "win_rate_method": results.get("win_rate_method"),
        "judgments": results.get("judgments"),
        "judged_items": gate.get("judged"),
        "planned_items": gate.get("planned_end"),
        "decided_after_items": gate.get("recorded", {}).get("after_judgments"),
        "test": gate.get("method"),
        "policy": policy,
        "agreement": (results.get("agreement") or {}).get("krippendorff_alpha"),
    }


def verdict_payload(*, verdict: Verdict) -> dict:
    campaign = verdict.campaign
    return {
        # the keys a deploy job reads first, flat (added in this version; the older nested ones stay below)
        "model": campaign.candidate.model.name,
        "version": campaign.candidate.version,
        "verdict_hash": verdict.hash,
        "verdict_url": absolute_url(reverse("verdict-detail", kwargs={"pk": verdict.pk})),
        "figures": verdict_gate_figures(evidence=verdict.evidence),
        "verdict": verdict.pk,
        "decision": verdict.decision,
        "rationale": verdict.rationale,
        "signer": verdict.signer.username,
        "signed_at": verdict.signed_at.isoformat(),
        "hash": verdict.hash,
        "previous_hash": verdict.previous_hash,
        # Anchors outside the verdict table: the chain's head and length once this verdict is in it, so a later
        # check (and any receiver that keeps them) can tell when newer verdicts than these were deleted.
        "chain_head": verdict.hash,
        "chain_count": Verdict.objects.filter(pk__lte=verdict.pk).count(),
        "campaign": {"id": campaign.pk, "name": campaign.name, "kind": campaign.kind},
        "model_version": model_version_payload(version=campaign.candidate),
        "gate": verdict.evidence["results"]["gate"],
    }


@transaction.atomic
def _verdict_sign_once(*, campaign_id: int, signer: User, decision: str, rationale: str) -> Verdict | Approval:
    campaign = (
        Campaign.objects.select_for_update(of=("self",))
        .select_related("candidate__model", "created_by", "dataset_version__dataset", "baseline__model")
        .get(pk=campaign_id)
    )
    _check_signer(campaign, signer)
    _check_signature(campaign, signer, decision, rationale)
    evidence = campaign_evidence(campaign=campaign)
    gate = evidence["results"]["gate"]
    if decision == Verdict.Decision.APPROVE and gate["status"] != "pass":
        raise ConflictError(
            "The gate has not passed, so the candidate cannot be approved yet: " + " ".join(gate["reasons"]),
            code="gate_not_passed",
            extra={"gate": gate},
        )
    approval = Approval.objects.create(
        campaign=campaign, approver=signer, decision=decision, rationale=rationale.strip()
    )
    needed = GatePolicy.from_dict(campaign.gate_policy).approvers
    approvals = list(campaign.approvals.select_related("approver"))
    if decision == Verdict.Decision.APPROVE and len([a for a in approvals if a.decision == "approve"]) < needed:
        return approval  # waits for the other approvers
    verdict = _verdict_chained(campaign, signer, decision, rationale, evidence, approvals)
    _verdict_carry_out(campaign, verdict, signer)
    return verdict


def _check_signature(campaign: Campaign, signer: User, decision: str, rationale: str) -> None:
    """A campaign is signed once, by each approver once, with a decision and a rationale."""
    if Verdict.objects.filter(campaign=campaign).exists():
        raise ConflictError("This campaign has already been signed off.", code="already_signed")
    if Approval.objects.filter(campaign=campaign, approver=signer).exists():
        raise ConflictError(
            "You have already signed this campaign; another approver must add theirs.", code="already_signed_by_you"
        )
    if decision not in Verdict.Decision.values:
        raise ApplicationError("decision must be approve or reject.", code="invalid", extra={"field": "decision"})
    if not rationale.strip():
        raise ApplicationError("A rationale is required.", code="invalid", extra={"field": "rationale"})


def _verdict_chained(
    campaign: Campaign, signer: User, decision: str, rationale: str, evidence: dict, approvals: list[Approval]
) -> Verdict:
    """The verdict with its report and approvals in the evidence, saved as the new head of the hash chain."""
    evidence["report_html"] = report_html(campaign=campaign, evidence=evidence)
    evidence["approvals"] = [
        {
            "approver": a.approver.username,
            "decision": a.decision,
            "rationale": a.rationale,
            "at": a.created_at.isoformat(),
        }
        for a in approvals
    ]
    # the chain follows insertion order (ids), not clocks, which may differ between web servers
    head = Verdict.objects.order_by("-id").values_list("hash", flat=True).first()
    verdict = Verdict(
        campaign=campaign,
        decision=decision,
        rationale=rationale.strip(),
        signer=signer,
        signed_at=timezone.now(),
        evidence=evidence,
        previous_hash=head or GENESIS_HASH,
    )
    verdict.hash = verdict_hash(verdict=verdict)
    verdict.save()
    return verdict


def _verdict_carry_out(campaign: Campaign, verdict: Verdict, signer: User) -> None:
    """What a verdict sets in motion: the campaign and its candidate's other campaigns close, the candidate's stage
    moves, and the webhook is queued, all in the verdict's transaction."""
    approved = verdict.decision == Verdict.Decision.APPROVE
    campaign.status = Campaign.Status.CLOSED
    campaign.status_reason = f"Signed off: {verdict.decision_past}"
    campaign.save(update_fields=["status", "status_reason", "updated_at"])
    campaigns_ended_notify(
        campaigns=[campaign], reason=f"{signer.username} signed it off: {verdict.decision_past}.", actor=signer
    )
    # the candidate is decided: its other campaigns' work can no longer count
    # the reason reaches the sibling's reviewers: its id, never its name, which may name the models
    campaigns_close_for_candidate(
        candidate=campaign.candidate,
        except_campaign=campaign,
        reason=(
            f"Closed: campaign {campaign.pk} signed off this candidate as {'approved' if approved else 'rejected'}."
        ),
    )
    model_version_set_stage(
        version=campaign.candidate,
        to_stage=ModelVersion.Stage.APPROVED if approved else ModelVersion.Stage.REJECTED,
        actor=signer,
        reason=verdict.rationale,
        verdict_id=verdict.pk,
    )
    webhook_event_publish(event="verdict.signed", payload=verdict_payload(verdict=verdict))


def verdict_sign(*, campaign: Campaign, signer: User, decision: str, rationale: str) -> Verdict | Approval:
    """Record an approver's decision. Returns the verdict once it is decided (enough approvals, or a rejection),
    else the approval, which waits for the other approvers. Two verdicts signed at once cannot both extend the
    chain (previous_hash is unique), so the loser retries against the new head. Refused (chain_broken) while the
    verdict chain is broken and no admin has acknowledged it."""
    verdict_chain_guard()
    for attempt in range(CHAIN_RETRIES):
        try:
            return _verdict_sign_once(campaign_id=campaign.pk, signer=signer, decision=decision, rationale=rationale)
        except IntegrityError:
            if Verdict.objects.filter(campaign_id=campaign.pk).exists():
                raise ConflictError("This campaign has already been signed off.", code="already_signed") from None
            if Approval.objects.filter(campaign_id=campaign.pk, approver=signer).exists():
                raise ConflictError("You have already signed this campaign.", code="already_signed_by_you") from None
            if attempt == CHAIN_RETRIES - 1:
                raise
    raise AssertionError("unreachable")
