"""Reads for reviews: access-checked getters, what a task shows, results, and the gate as CI sees it."""

from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, OuterRef, QuerySet

from core.errors import ApplicationError, NotFoundError
from core.models import User
from core.rawsql import columns, fetch_models, sql_naming
from datasets.models import Dataset, DatasetVersion, Item
from models_app.models import ModelVersion, Prediction, PredictionSet
from models_app.selectors_diff import prediction_diff_counts, prediction_sets_for_diff
from reviews.claimable import claimable_params, claimable_tasks_sql
from reviews.content import render_content
from reviews.gate import GatePolicy
from reviews.models import SLOTS, Approval, Assignment, Campaign, Judgment, ReviewerExclusion, Task, TaskOutput, Verdict
from reviews.plan import gate_plan, outcome_resolution
from reviews.problems import judgment_problem
from reviews.results import campaign_version_names, item_rows_with_quality


def campaigns_visible_to(user: User) -> QuerySet[Campaign]:
    # newest first, ties broken by id so that pages neither repeat nor skip a campaign
    campaigns = Campaign.objects.select_related(
        "dataset_version__dataset", "candidate__model", "baseline__model"
    ).order_by("-created_at", "-id")
    if user.has_role(User.Role.DATA_SCIENTIST, User.Role.APPROVER):
        return campaigns
    return campaigns.filter(reviewers=user)


def campaign_get_for_user(*, campaign_id: int | str, user: User) -> Campaign:
    """Missing and not-yours answer alike, so ids reveal nothing."""
    try:
        campaign = campaigns_visible_to(user).filter(pk=int(campaign_id)).first()
    except (TypeError, ValueError):
        campaign = None
    if campaign is None:
        raise NotFoundError("No such campaign.", code="campaign_not_found")
    return campaign


# get-next runs the reads below once per judgment. They are SQL rather than querysets because building these
# queries cost the ORM 3-7 times as much CPU as running them (docs/bench-next-task.md).
_REVIEWER_CAMPAIGN_SQL = sql_naming(
    """
SELECT {{columns}} FROM {Campaign} c
WHERE c.{Campaign.id} = %s AND EXISTS (
    SELECT 1 FROM {Reviewer} r WHERE r.{Reviewer.campaign} = c.{Campaign.id} AND r.{Reviewer.user} = %s
)
""",
    Campaign=Campaign,
    Reviewer=Campaign.reviewers.through,
)


def campaign_get_for_reviewer(*, campaign_id: int, user: User) -> Campaign:
    """The campaign, if the user is among its reviewers (whatever their role: that implies they may see it)."""
    sql = _REVIEWER_CAMPAIGN_SQL.format(columns=columns(Campaign, "c"))
    campaign = next(iter(fetch_models(Campaign, sql, [campaign_id, user.pk])), None)
    if campaign is None:
        raise NotFoundError("No such campaign.", code="campaign_not_found")
    return campaign


def item_image_url(item: Item) -> str | None:
    return f"/items/{item.pk}/image" if item.image else None


# The task's item and its outputs, one row per output (a single row of NULLs if it has none).
_TASK_CONTENT_SQL = sql_naming(
    """
SELECT i.{Item.id}, i.{Item.external_id}, i.{Item.input}, i.{Item.image}, o.{Output.model_version}, p.{Prediction.output}
FROM {Task} t
JOIN {Item} i ON i.{Item.id} = t.{Task.item}
LEFT JOIN {Output} o ON o.{Output.task} = t.{Task.id}
LEFT JOIN {Prediction} p ON p.{Prediction.id} = o.{Output.prediction}
WHERE t.{Task.id} = %s
""",
    Task=Task,
    Item=Item,
    Output=TaskOutput,
    Prediction=Prediction,
)


def _task_content(task_id: int) -> tuple[Item, dict]:
    """The task's item (the fields a payload shows) and its outputs by model version."""
    with connection.cursor() as cursor:
        cursor.execute(_TASK_CONTENT_SQL, [task_id])
        rows = cursor.fetchall()
    item_id, external_id, raw_input, image = rows[0][:4]
    field = Item._meta.get_field("input")  # JSON comes back as text: decoded as the ORM decodes a selected column
    col = field.cached_col
    item = Item(id=item_id, external_id=external_id, input=field.from_db_value(raw_input, col, connection), image=image)
    return item, {
        version: field.from_db_value(output, col, connection) for *_, version, output in rows if version is not None
    }


def assignment_payload(assignment: Assignment, campaign: Campaign | None = None) -> dict:
    """What the reviewer sees: the item and the outputs, blind (no model names), in the order drawn for them."""
    campaign = campaign or Campaign.objects.get(pk=assignment.campaign_id)
    item, by_version = _task_content(assignment.task_id)
    fmt = campaign.content_format
    payload = {
        "task": assignment.task_id,
        "campaign": campaign.pk,
        "kind": campaign.kind,
        "item": item.external_id,
        "input": item.input,
        "input_content": render_content(item.input, fmt),
        "image_url": item_image_url(item),
        "lease_expires_at": assignment.lease_expires_at.isoformat() if assignment.lease_expires_at else None,
    }
    if campaign.kind == Campaign.Kind.LABELING:
        suggestion = by_version.get(campaign.candidate_id) if campaign.show_suggestion else None
        payload.update({"labels": campaign.labels, "multi_label": campaign.multi_label, "suggestion": suggestion})
    else:
        payload["outputs"] = [
            {"slot": SLOTS[index], "output": by_version[version], "content": render_content(by_version[version], fmt)}
            for index, version in enumerate(assignment.slot_order)
        ]
        if campaign.kind == Campaign.Kind.RATING:
            payload["rubric"] = campaign.rubric
    return payload


LEFT_COUNT_CAP = 100  # beyond this, "100+ left" says enough; each one counted is an index probe on every get-next


# The reviewer's assignments by status, and (status NULL) how many tasks are still claimable by them
# (reviews.claimable), up to the cap: one round trip and no ORM query building, since get-next asks for this on every
# judgment. Parameters: campaign, reviewer, then the claimable statement's.
_PROGRESS_SQL = sql_naming(
    """
SELECT a.{Assignment.status}, COUNT(*) FROM {Assignment} a
WHERE a.{Assignment.campaign} = %s AND a.{Assignment.reviewer} = %s GROUP BY a.{Assignment.status}
UNION ALL
SELECT NULL, COUNT(*) FROM ({{claimable}}) claimable
""",
    Assignment=Assignment,
).format(claimable=claimable_tasks_sql())
# With known-answer items: also how many the reviewer has been handed (whatever became of them).
_PROGRESS_KNOWN_SQL = _PROGRESS_SQL + sql_naming(
    """
UNION ALL
SELECT 'known', COUNT(*) FROM {Assignment} a JOIN {Task} t ON t.{Task.id} = a.{Assignment.task}
WHERE a.{Assignment.campaign} = %s AND a.{Assignment.reviewer} = %s AND t.{Task.known_answer} IS NOT NULL
""",
    Assignment=Assignment,
    Task=Task,
)


def reviewer_progress(campaign: Campaign, reviewer: User) -> dict:
    params = [
        campaign.pk,
        reviewer.pk,
        *claimable_params(campaign_id=campaign.pk, reviewer_id=reviewer.pk, limit=LEFT_COUNT_CAP),
    ]
    with connection.cursor() as cursor:
        if campaign.known_answer_rate:
            cursor.execute(_PROGRESS_KNOWN_SQL, [*params, campaign.pk, reviewer.pk])
        else:
            cursor.execute(_PROGRESS_SQL, params)
        counts = dict(cursor.fetchall())
    claimable = counts.pop(None)
    known_taken = counts.pop("known", 0)
    if known_taken and claimable < LEFT_COUNT_CAP:
        # Each known-answer item handed out stands in for an ordinary one, so "left" moves exactly as it does for
        # ordinary work (one less per judgment, unchanged by a claim) and never marks which task was the check.
        claimable = max(0, claimable - known_taken)
    return _progress(campaign, counts, claimable)


def _progress(campaign: Campaign, counts: dict[str, int], claimable: int) -> dict:
    done, open_now = counts.get(Assignment.Status.DONE, 0), counts.get(Assignment.Status.OPEN, 0)
    if campaign.quota_per_reviewer is not None:
        claimable = min(claimable, max(0, campaign.quota_per_reviewer - done - open_now))
    if campaign.decision and campaign.gate_policy.get("stop_when_decided", True):
        claimable = 0  # the gate has decided: nothing more is handed out
    return {
        "done": done,
        "skipped": counts.get(Assignment.Status.SKIPPED, 0),
        "open": open_now,
        "left": claimable + open_now,
        "left_is_lower_bound": claimable >= LEFT_COUNT_CAP,
        "quota": campaign.quota_per_reviewer,
    }


def gate_status_for_model_version(*, model_version: ModelVersion) -> tuple[str, Verdict | None]:
    """approved / rejected (a verdict), pending (a campaign is running or paused) or none. The campaigns are read
    before the verdicts: a sign-off closes its campaign and writes the verdict in one transaction, so read in this
    order a poll racing it sees either the running campaign or the verdict, never neither ("none")."""
    running = Campaign.objects.filter(
        candidate=model_version, status__in=[Campaign.Status.ACTIVE, Campaign.Status.PAUSED]
    ).exists()
    verdict = (
        Verdict.objects.select_related("campaign", "signer")
        .filter(campaign__candidate=model_version)
        .order_by("-signed_at", "-id")
        .first()
    )
    if verdict is not None:
        return verdict.decision_past, verdict
    return ("pending" if running else "none"), None


def reviewer_may_see_item(*, reviewer: User, item: Item) -> bool:
    return Assignment.objects.filter(reviewer=reviewer, task__item=item).exists()


# reviewer_progress for many campaigns in three round trips, however many there are (the reviewer's home page):
# each campaign's claimable count is still a LIMITed subquery, so a large campaign costs no more than in get-next.
_CLAIMABLE_ONE_SQL = "SELECT %s, COUNT(*) FROM (" + claimable_tasks_sql() + ") claimable"


def reviewer_progress_many(campaigns: list[Campaign], reviewer: User) -> dict[int, dict]:
    """`reviewer_progress` of each campaign, by campaign id."""
    if not campaigns:
        return {}
    ids = [campaign.pk for campaign in campaigns]
    counts: dict[int, dict] = {pk: {} for pk in ids}
    for campaign_id, status, count in (
        Assignment.objects.filter(campaign_id__in=ids, reviewer=reviewer)
        .values_list("campaign_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    ):
        counts[campaign_id][status] = count
    sql = " UNION ALL ".join(f"SELECT * FROM ({_CLAIMABLE_ONE_SQL}) c{k}" for k in range(len(ids)))
    with connection.cursor() as cursor:
        params = [
            value
            for pk in ids
            for value in (pk, *claimable_params(campaign_id=pk, reviewer_id=reviewer.pk, limit=LEFT_COUNT_CAP))
        ]
        cursor.execute(sql, params)
        claimable = dict(cursor.fetchall())
    known_taken = (
        dict(
            Assignment.objects.filter(
                campaign_id__in=[c.pk for c in campaigns if c.known_answer_rate],
                reviewer=reviewer,
                task__known_answer__isnull=False,
            )
            .values_list("campaign_id")
            .annotate(n=Count("id"))
            .order_by()
        )
        if any(c.known_answer_rate for c in campaigns)
        else {}
    )
    progress = {}
    for campaign in campaigns:
        left, taken = claimable.get(campaign.pk, 0), known_taken.get(campaign.pk, 0)
        if taken and left < LEFT_COUNT_CAP:  # as reviewer_progress: a known-answer item stands in for an ordinary one
            left = max(0, left - taken)
        progress[campaign.pk] = _progress(campaign, counts[campaign.pk], left)
    return progress


def reviewer_queue_campaigns(*, reviewer: User) -> QuerySet[Campaign]:
    """The reviewer's active and paused campaigns, oldest first (ties by id, so pages are stable)."""
    return Campaign.objects.filter(
        reviewers=reviewer, status__in=[Campaign.Status.ACTIVE, Campaign.Status.PAUSED]
    ).order_by("created_at", "id")


def reviewer_queue(*, reviewer: User, campaigns: Iterable[Campaign] | None = None) -> list[dict]:
    """The reviewer's campaigns (all of the queue, or the page given) with what they have done and what is left."""
    rows = list(reviewer_queue_campaigns(reviewer=reviewer) if campaigns is None else campaigns)
    progress = reviewer_progress_many(rows, reviewer)
    return [{"campaign": campaign, **progress[campaign.pk]} for campaign in rows]


def campaign_uploader_ids(*, campaign: Campaign) -> set[int]:
    """Who may not sign this campaign off (separation of duties): its lead, the candidate's creator and whoever
    uploaded the candidate's predictions."""
    uploaders = {campaign.created_by_id, campaign.candidate.created_by_id}
    uploaders.update(campaign.candidate.prediction_sets.values_list("created_by_id", flat=True))
    return uploaders


def campaigns_awaiting_signoff(*, approver: User) -> QuerySet[Campaign]:
    """The approver's queue: campaigns whose gate decided, with no verdict yet, that this approver has not signed
    and may sign (not the uploader of the candidate nor the campaign's creator: services.verdicts)."""
    uploaded = PredictionSet.objects.filter(model_version=OuterRef("candidate_id"), created_by=approver)
    return (
        campaigns_visible_to(approver)
        .exclude(decision="")
        .filter(verdict__isnull=True)
        .exclude(Exists(Approval.objects.filter(campaign=OuterRef("pk"), approver=approver)))
        .exclude(created_by=approver)
        .exclude(candidate__created_by=approver)
        .exclude(Exists(uploaded))
        .order_by("decided_at", "id")  # the longest waiting first
    )


def campaign_gate_summary(campaign: Campaign) -> dict:
    """The gate's status and reasons as stored by its last check (reviews.services.decisions), for list pages."""
    state = campaign.gate_state or {}
    status = campaign.decision or state.get("status") or "pending"
    return {
        "status": status,
        "reasons": state.get("reasons", []),
        "judged": state.get("judged", 0),
        "planned_end": state.get("planned_end") or (campaign.plan or {}).get("max_judgments"),
    }


HOME_AWAITING_SHOWN = 5  # the rest on the approver's queue page


def home_summary(*, user: User) -> dict:
    summary: dict = {"is_reviewer": user.role == User.Role.REVIEWER}
    # the reviewer's queue is paged by the view (reviews.views.home)
    summary["has_queue"] = user.has_role(User.Role.REVIEWER) and user.role in (User.Role.REVIEWER, User.Role.ADMIN)
    if user.has_role(User.Role.DATA_SCIENTIST, User.Role.APPROVER):
        # the gate as its last check stored it: a list never computes results (one query for all the rows)
        campaigns = list(campaigns_visible_to(user).select_related("verdict")[:20])
        summary["campaigns"] = [
            {"campaign": c, "gate": campaign_gate_summary(c), "signed": hasattr(c, "verdict")} for c in campaigns
        ]
        summary["datasets"] = Dataset.objects.order_by("-created_at")[:10]
        summary["model_versions"] = ModelVersion.objects.select_related("model").order_by("-created_at")[:10]
    if user.has_role(User.Role.APPROVER):
        # one more than shown says whether there are more, without a COUNT (the queue's page has the count)
        awaiting = list(campaigns_awaiting_signoff(approver=user)[: HOME_AWAITING_SHOWN + 1])
        summary["awaiting_signoff"] = awaiting[:HOME_AWAITING_SHOWN]
        summary["awaiting_signoff_more"] = len(awaiting) > HOME_AWAITING_SHOWN
    return summary


def judgment_answer(judgment: Judgment, names: dict[int, str]) -> str:
    """The judgment in words with model names restored, for the campaign lead; as stored, when it cannot be read."""
    campaign = judgment.task.campaign
    problem = judgment_problem(
        campaign,
        choice=judgment.choice,
        labels=judgment.labels,
        ranking=judgment.ranking,
        ratings=judgment.ratings,
        slot_order=judgment.assignment.slot_order,
        candidate_slot=judgment.assignment.candidate_slot,
        has_suggestion=True,
    )
    if problem:
        stored = {
            "choice": judgment.choice,
            "labels": judgment.labels,
            "ranking": judgment.ranking,
            "ratings": judgment.ratings,
        }
        return f"cannot be read ({problem}); stored as {stored}"
    order = judgment.assignment.slot_order

    def name(slot: str) -> str:
        return names.get(order[SLOTS.index(slot)], slot)

    if judgment.choice in ("A", "B"):
        return f"{name(judgment.choice)} is better"
    if judgment.choice:
        return {"tie": "tie", "both_bad": "both bad"}[judgment.choice]
    if judgment.ranking:
        return " > ".join(" = ".join(name(slot) for slot in group) for group in judgment.ranking)
    if judgment.ratings:
        return "; ".join(
            f"{name(slot)}: " + ", ".join(f"{k} {v}" for k, v in scores.items())
            for slot, scores in judgment.ratings.items()
        )
    return ", ".join(judgment.labels)


def campaign_item_judgments(*, campaign: Campaign, contested_only: bool = False, limit: int = 100) -> list[dict]:
    """Per item: every judgment (counted, undone or discarded) and every skip, side by side, for the lead."""
    names = campaign_version_names(campaign)
    items = _items_judged(campaign, names)
    if contested_only:
        items = [row for row in items if row["contested"] or row["flagged"]]
    items = items[:limit]
    _add_content_shown(campaign, items, names)
    return item_rows_with_quality(campaign, items, names)


def _items_judged(campaign: Campaign, names: dict[int, str]) -> list[dict]:
    """Every item with a judgment or a skip, in task order: its judgments (each marked counted or not), its skips,
    whether the counted answers differ (contested) and whether a reviewer flagged it."""
    judgments = (
        Judgment.objects.filter(task__campaign=campaign)
        .select_related("assignment", "reviewer", "discarded_by", "task__item", "task__campaign")
        .order_by("task__item_id", "task_id", "id")  # in the dataset's order
    )
    skips = Assignment.objects.filter(campaign=campaign, status=Assignment.Status.SKIPPED).select_related(
        "reviewer", "task__item"
    )
    excluded = set(ReviewerExclusion.objects.filter(campaign=campaign).values_list("reviewer_id", flat=True))
    rows: dict[int, dict] = {}
    for judgment in judgments:
        row = rows.setdefault(
            judgment.task_id, {"item": judgment.task.item, "task": judgment.task_id, "judgments": [], "skips": []}
        )
        # counted in the results: not undone or discarded, not by an excluded reviewer, not on a known-answer item
        row["judgments"].append(
            {
                "judgment": judgment,
                "answer": judgment_answer(judgment, names),
                "excluded": judgment.reviewer_id in excluded,
                "counted": judgment.retracted_at is None
                and judgment.discarded_at is None
                and judgment.reviewer_id not in excluded
                and judgment.task.known_answer is None,
            }
        )
    for skip in skips:
        rows.setdefault(skip.task_id, {"item": skip.task.item, "task": skip.task_id, "judgments": [], "skips": []})[
            "skips"
        ].append(skip)
    items = sorted(rows.values(), key=lambda r: r["task"])
    for row in items:
        answers = {j["answer"] for j in row["judgments"] if j["counted"]}
        row["contested"] = len(answers) > 1
        row["flagged"] = any(s.flagged for s in row["skips"])
    return items


def _add_content_shown(campaign: Campaign, items: list[dict], names: dict[int, str]) -> None:
    """Each item's input and the outputs its reviewers were shown, rendered as the review page shows them."""
    outputs: dict[int, list] = {}
    shown = (
        TaskOutput.objects.filter(task_id__in=[row["task"] for row in items])
        .select_related("prediction")
        .order_by("id")
    )
    for output in shown:
        outputs.setdefault(output.task_id, []).append(
            {
                "name": names.get(output.model_version_id, "?"),
                "content": render_content(output.prediction.output, campaign.content_format),
            }
        )
    for row in items:
        row["input"] = render_content(row["item"].input, campaign.content_format)
        row["outputs"] = outputs.get(row["task"], [])


def reviewer_campaign_state(*, campaign: Campaign, reviewer: User) -> dict:
    """Why work has ended for this reviewer, or that it has not, with the counts the server holds."""
    progress = reviewer_progress(campaign, reviewer)
    gate = campaign.gate_state or {}
    planned = gate.get("planned_end") or (campaign.plan or {}).get("max_judgments")
    judged = campaign.decided_after if campaign.decision else gate.get("judged")
    if campaign.status == Campaign.Status.CLOSED:
        state, message = "closed", f"{campaign.status_reason or 'This campaign is closed'}. It takes no more judgments."
    elif campaign.status == Campaign.Status.PAUSED:
        state, message = (
            "paused",
            (
                f"{campaign.status_reason or 'Paused by the lead'}. Nothing is handed out until it is "
                "resumed; judgments you made are kept."
            ),
        )
    elif campaign.decision and campaign.gate_policy.get("stop_when_decided", True):
        state, message = (
            "gate_decided",
            (
                f"The gate decided after {judged} of {planned} items were judged, "
                "so no more judgments are needed. Thank you."
            ),
        )
    elif campaign.quota_per_reviewer is not None and progress["done"] + progress["open"] >= campaign.quota_per_reviewer:
        state, message = "quota", f"You have judged your quota of {campaign.quota_per_reviewer} items. Thank you."
    elif progress["left"] == 0:
        state, message = "done", "Every item is judged, or is being judged by another reviewer. Thank you."
    else:
        state, message = "active", ""
    return {
        "status": campaign.status,
        "state": state,
        "message": message,
        "progress": progress,
        "campaign": {"judged_items": judged, "planned_items": planned},
    }


def campaign_plan_preview(
    *,
    kind: str,
    dataset_version: DatasetVersion,
    versions: list[ModelVersion],
    has_baseline: bool,
    overlap: int,
    gate: dict[str, Any],
    items_choice: str = Campaign.Items.ALL,
) -> dict[str, Any]:
    """The plan a campaign would state if created now: its items are those every version has a prediction for
    (diff-first: those whose candidate and baseline outputs differ, with how many are identical)."""
    # counted in the database: the items of the version that every model version has a prediction for
    with_all = Item.objects.filter(version=dataset_version)
    for version in versions:
        with_all = with_all.filter(
            pk__in=Prediction.objects.filter(
                prediction_set__model_version=version, prediction_set__dataset_version=dataset_version
            ).values("item_id")
        )
    items = with_all.count() if versions else 0
    resolution = outcome_resolution(
        kind=kind, overlap=overlap, compared_versions=len(versions), has_baseline=has_baseline
    )
    preview: dict[str, Any] = {}
    if items_choice == Campaign.Items.CHANGED and kind == Campaign.Kind.PAIRWISE and len(versions) == 2 and items:
        a, b = prediction_sets_for_diff(version=versions[0], against=versions[1], dataset_version=dataset_version)
        counts = prediction_diff_counts(a=a, b=b)
        items, preview["identical_items"] = counts.changed, counts.identical
    return {
        "items": items,
        **preview,
        "plan": gate_plan(GatePolicy.from_dict(gate), items=items, overlap=overlap, resolution=resolution),
    }


# --- the rules pages and the API share: who leads a campaign, who may be named, what a user may open ----------------


def campaign_user_is_lead(*, campaign: Campaign, user: User) -> bool:
    """The campaign's lead is its creator; an admin may act as any campaign's lead."""
    return user.pk == campaign.created_by_id or user.has_role()


def campaign_lead_controls(*, campaign: Campaign, user: User) -> dict | None:
    """What the campaign page offers its lead (or an admin): the dataset's other versions, the reviewers to add."""
    if not campaign_user_is_lead(campaign=campaign, user=user) or campaign.status == Campaign.Status.CLOSED:
        return None
    return {
        "versions": (
            DatasetVersion.objects.filter(dataset_id=campaign.dataset_version.dataset_id)
            .exclude(pk=campaign.dataset_version_id)
            .order_by("-number")
        )
        if not campaign.decision
        else [],
        "reviewers": User.objects.filter(is_active=True, role=User.Role.REVIEWER)
        .exclude(pk__in=campaign.reviewers.values("pk"))
        .order_by("username"),
    }


def campaign_dataset_version_get(*, campaign: Campaign, dataset_version_id: int | str | None) -> DatasetVersion:
    """A version of the campaign's own dataset, by id (the page's choice), or an error naming the field."""
    try:
        pk = int(dataset_version_id or 0)
    except (TypeError, ValueError):
        pk = 0
    version = DatasetVersion.objects.filter(dataset_id=campaign.dataset_version.dataset_id, pk=pk).first()
    if version is None:
        raise ApplicationError(
            "Choose a version of the campaign's dataset.", code="invalid", extra={"field": "dataset_version"}
        )
    return version


def users_active_by_username(*, usernames: list[str], field: str) -> list[User]:
    """The active users with these usernames, in the order given (duplicates once); 400 naming any that is not."""
    wanted = list(dict.fromkeys(usernames))
    found = {u.username: u for u in User.objects.filter(username__in=wanted, is_active=True)}
    missing = [name for name in wanted if name not in found]
    if missing:
        raise NotFoundError(
            f"No such users: {', '.join(sorted(missing))}.",
            code="reviewer_not_found",
            status=400,
            extra={"field": field},
        )
    return [found[name] for name in wanted]


def assignment_open_get(*, task_id: int, reviewer: User) -> Assignment:
    """The reviewer's open assignment of a task (after an undo, or a reload); anyone else's answers not found."""
    assignment = (
        Assignment.objects.select_related("task__campaign")
        .filter(task_id=task_id, reviewer=reviewer, status=Assignment.Status.OPEN)
        .first()
    )
    if assignment is None:
        raise NotFoundError("No open task of yours with that id.", code="task_not_found")
    return assignment


def judgment_get(*, judgment_id: int) -> Judgment:
    """A judgment with its campaign, for its lead's discard (the service checks that the caller leads it)."""
    judgment = Judgment.objects.select_related("task__campaign", "reviewer").filter(pk=judgment_id).first()
    if judgment is None:
        raise NotFoundError("No such judgment.", code="judgment_not_found")
    return judgment


def campaign_verdict(*, campaign: Campaign) -> Verdict | None:
    return Verdict.objects.filter(campaign=campaign).select_related("signer").first()


def campaign_approval_count(*, campaign: Campaign) -> dict:
    """How many approvers have approved a campaign still waiting for a verdict, and how many its policy needs."""
    return {
        "approvals": campaign.approvals.filter(decision="approve").count(),
        "needed": GatePolicy.from_dict(campaign.gate_policy).approvers,
    }


def item_get_for_user(*, item_id: int, user: User) -> Item:
    """An item whose image the user may see: readers of datasets see every item, a reviewer only items assigned to
    them. Missing and not-yours answer alike."""
    item = Item.objects.filter(pk=item_id).first()
    if item is None or not (
        user.has_role(User.Role.DATA_SCIENTIST, User.Role.APPROVER) or reviewer_may_see_item(reviewer=user, item=item)
    ):
        raise NotFoundError("No such item.", code="item_not_found")
    return item


def campaign_reviewer_get(*, campaign: Campaign, username: str) -> User:
    reviewer = campaign.reviewers.filter(username=username).first()
    if reviewer is None:
        raise ApplicationError(
            f"{username!r} is not a reviewer of this campaign.", code="reviewer_not_found", extra={"field": "reviewer"}
        )
    return reviewer


def reviewer_judgments(*, campaign: Campaign, reviewer: User) -> QuerySet[Judgment]:
    """The reviewer's current answers in a campaign (not undone, not replaced by a change), newest first, with what
    their history row reads: the item, their slot order, and the answer each one replaced."""
    return (
        Judgment.objects.filter(task__campaign=campaign, reviewer=reviewer, retracted_at__isnull=True)
        .select_related("assignment", "task__item", "replaces__assignment")
        .order_by("-created_at", "-id")
    )


def judgment_blind_answer(judgment: Judgment, campaign: Campaign) -> str:
    """The answer in the reviewer's own terms: slots as they were shown to them (blind), never model names."""
    judgment.task.campaign = campaign  # judgment_answer reads it; the caller already holds it
    shown = {version: slot for slot, version in zip(SLOTS, judgment.assignment.slot_order, strict=False)}
    return judgment_answer(judgment, shown)


def judgment_get_for_reviewer(*, judgment_id: int, reviewer: User) -> Judgment:
    """One of the reviewer's own judgments; anyone else's answers not found."""
    judgment = (
        Judgment.objects.select_related("assignment", "task__campaign", "task__item")
        .filter(pk=judgment_id, reviewer=reviewer)
        .first()
    )
    if judgment is None:
        raise NotFoundError("No such judgment of yours.", code="judgment_not_found")
    return judgment
