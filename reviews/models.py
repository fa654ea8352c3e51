"""Review campaigns, their tasks and assignments, experts' judgments, and approvers' verdicts."""

from django.conf import settings
from django.db import models

from core.models import BaseModel
from datasets.models import DatasetVersion, Item
from models_app.models import ModelVersion, Prediction


class Campaign(BaseModel):
    class Kind(models.TextChoices):
        PAIRWISE = "pairwise"
        RANKING = "ranking"
        RATING = "rating"
        LABELING = "labeling"

    class Status(models.TextChoices):
        ACTIVE = "active"
        PAUSED = "paused"  # by its lead: nothing handed out, no judgment taken, until it is resumed
        CLOSED = "closed"  # signed off, closed by its lead, or made moot by a verdict on its candidate: final

    class Sampling(models.TextChoices):
        RANDOM = "random"
        STRATIFIED = "stratified"  # interleave items by their first tag, so every slice fills at the same pace
        DISAGREEMENT = "disagreement"  # items whose outputs differ first, then items reviewers disagree on

    class Items(models.TextChoices):
        ALL = "all"
        # diff-first: only items whose candidate and baseline outputs differ (models_app.selectors_diff)
        CHANGED = "changed"

    class ContentFormat(models.TextChoices):
        AUTO = "auto"  # strings as text, objects as JSON, lists of records as tables
        TEXT = "text"
        MARKDOWN = "markdown"
        CODE = "code"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    dataset_version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="campaigns")
    # The version the gate is about, and (pairwise, optionally ranking/rating) the one it is compared with.
    candidate = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="campaigns_as_candidate")
    baseline = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="campaigns_as_baseline", null=True, blank=True
    )
    # Further versions shown side by side in ranking and rating campaigns.
    others = models.ManyToManyField(ModelVersion, related_name="campaigns_as_other", blank=True)
    labels = models.JSONField(default=list, blank=True)
    multi_label = models.BooleanField(default=False)
    show_suggestion = models.BooleanField(default=True)  # labeling: show the candidate's output as a suggestion
    # Rating: [{"name": "accuracy", "scale": "likert" | "pass_fail", "description": "..."}]
    rubric = models.JSONField(default=list, blank=True)
    content_format = models.CharField(max_length=20, choices=ContentFormat.choices, default=ContentFormat.AUTO)
    reviewers = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="review_campaigns")
    overlap = models.PositiveIntegerField(default=1)
    sampling = models.CharField(max_length=20, choices=Sampling.choices, default=Sampling.RANDOM)
    quota_per_reviewer = models.PositiveIntegerField(null=True, blank=True)
    lease_seconds = models.PositiveIntegerField(default=600)
    gate_policy = models.JSONField(default=dict)
    guidelines = models.TextField(blank=True)  # markdown, sanitised when shown
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Set once, when the gate first reaches pass or fail (reviews.services.decisions); never changed after.
    decision = models.CharField(max_length=10, blank=True, choices=[("pass", "pass"), ("fail", "fail")])
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_after = models.PositiveIntegerField(null=True, blank=True)  # judgments in when it decided
    # The newest judgment id the last gate check saw: a burst of judgments triggers one check, not one each.
    gate_checked_through = models.BigIntegerField(default=0)
    # Until when a gate check already scheduled will see a newly committed judgment. Kept in the row, not in a
    # process, so every web process and worker shares one debounce (reviews.services.decisions).
    gate_check_due_at = models.DateTimeField(null=True, blank=True)
    # Why the campaign is paused or closed, in words reviewers and leads are shown ("paused by the lead", ...).
    status_reason = models.CharField(max_length=500, blank=True)
    # The test's design for the campaign's size, stated at creation and restated when it is extended
    # (reviews.plan): power, expected and 90th-percentile units to a decision, the planned end, warnings.
    plan = models.JSONField(default=dict, blank=True)
    # The gate as the last check saw it ({"status", "reasons", "units", "win_rate", ...}): what list pages show,
    # so they never compute results per campaign.
    gate_state = models.JSONField(default=dict, blank=True)
    # Known-answer items: the share of a reviewer's tasks drawn from them, and the fastest believable judgment.
    known_answer_rate = models.FloatField(default=0.0)
    min_seconds = models.PositiveIntegerField(null=True, blank=True)
    # When someone who may read results first opened them: an exclusion after this is marked in the evidence.
    results_viewed_at = models.DateTimeField(null=True, blank=True)
    # Which items became tasks; a diff-first campaign records how many it left out because both outputs were
    # identical (they count as ties in the implied win rate over all items, reviews.results).
    items = models.CharField(max_length=10, choices=Items.choices, default=Items.ALL)
    identical_items = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(overlap__gte=1), name="campaign_overlap_positive"),
            models.CheckConstraint(
                condition=~models.Q(kind="pairwise") | models.Q(baseline__isnull=False),
                name="pairwise_campaign_has_baseline",
            ),
            models.CheckConstraint(condition=models.Q(lease_seconds__gte=10), name="campaign_lease_at_least_10s"),
            models.CheckConstraint(
                condition=models.Q(known_answer_rate__gte=0, known_answer_rate__lte=0.5),
                name="campaign_known_answer_rate_0_to_half",
            ),
            models.CheckConstraint(
                condition=models.Q(items="all") | models.Q(kind="pairwise"), name="diff_first_campaign_is_pairwise"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def status_label(self) -> str:
        """The status as people read it: an active campaign whose gate decided is waiting for its sign-off."""
        if self.status == self.Status.ACTIVE and self.decision:
            return f"decided: {self.decision} — awaiting sign-off"
        return self.status


class TaskQuerySet(models.QuerySet):
    def ordinary(self) -> "TaskQuerySet":
        """The campaign's work: every task but the known-answer items (which only measure reviewers)."""
        return self.filter(known_answer__isnull=True)

    def known(self) -> "TaskQuerySet":
        return self.filter(known_answer__isnull=False)


class Task(models.Model):
    """One item of a campaign, to be judged by `capacity` different reviewers."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="tasks")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+")
    capacity = models.PositiveIntegerField()
    assigned_count = models.PositiveIntegerField(
        default=0
    )  # open + done assignments; skips and expiries give room back
    # Hand-out order: lower priority first, then sort_key (random, or interleaved by stratum).
    priority = models.SmallIntegerField(default=0)
    sort_key = models.FloatField(default=0.0)
    # Set on known-answer items only: the de-blinded answer a careful reviewer gives (reviews.quality). Such a
    # task measures reviewers; it never counts in the gate or the campaign's results.
    known_answer = models.JSONField(null=True, blank=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "item"], name="one_task_per_item_per_campaign"),
            # the database itself refuses an over-assigned task
            models.CheckConstraint(
                condition=models.Q(assigned_count__lte=models.F("capacity")), name="task_never_over_assigned"
            ),
        ]
        indexes = [
            # next-task query: a campaign's tasks with room left, in hand-out order (a partial index stays small
            # as the campaign fills up)
            models.Index(
                fields=["campaign", "priority", "sort_key", "id"],
                name="task_open_order_idx",
                condition=models.Q(assigned_count__lt=models.F("capacity")),
            ),
        ]

    def __str__(self) -> str:
        return f"task {self.pk} (campaign {self.campaign_id}, item {self.item_id})"


class TaskOutput(models.Model):
    """One model version's output shown in a task (two for pairwise, N for ranking, one or more for rating)."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="outputs")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    prediction = models.ForeignKey(Prediction, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "model_version"], name="one_output_per_version_per_task"),
        ]

    def __str__(self) -> str:
        return f"output of model version {self.model_version_id} in task {self.task_id}"


SLOTS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class Assignment(models.Model):
    class Status(models.TextChoices):
        OPEN = "open"
        DONE = "done"
        SKIPPED = "skipped"
        EXPIRED = "expired"  # the lease ran out; the task went back to the pool

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="assignments")
    # The task's campaign again, so a reviewer's work in a campaign is one index lookup, not a join over all tasks.
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="assignments")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    # The model version ids in the order shown (slot A first), drawn at random per assignment: blind review.
    slot_order = models.JSONField(default=list)
    # Where the candidate was shown; kept as a column so pairwise results are one GROUP BY.
    candidate_slot = models.CharField(max_length=1, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.CharField(max_length=500, blank=True)
    flagged = models.BooleanField(default=False)  # the reviewer reported the item as bad data
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # a reviewer never gets the same item twice, even after a skip or an expired lease
            models.UniqueConstraint(fields=["task", "reviewer"], name="one_assignment_per_reviewer_per_task"),
        ]
        indexes = [
            # a reviewer's work in a campaign: open assignments, progress, quota
            models.Index(fields=["campaign", "reviewer", "status"], name="assignment_reviewer_idx"),
            # the lease reaper: open assignments whose lease has run out
            models.Index(fields=["lease_expires_at"], name="assignment_lease_idx", condition=models.Q(status="open")),
        ]

    def __str__(self) -> str:
        return f"assignment {self.pk}: task {self.task_id} to reviewer {self.reviewer_id} ({self.status})"

    def version_in(self, slot: str) -> int:
        return self.slot_order[SLOTS.index(slot)]


class JudgmentQuerySet(models.QuerySet):
    def counted(self) -> "JudgmentQuerySet":
        """The judgments results are made of: neither undone by the reviewer nor discarded by the lead."""
        return self.filter(retracted_at__isnull=True, discarded_at__isnull=True)

    def in_results_of(self, campaign: "Campaign | int") -> "JudgmentQuerySet":
        """What a campaign's results, gate, exports and gold labels are made of: its counted judgments on ordinary
        tasks (known-answer items only measure reviewers), from reviewers its lead has not excluded."""
        return self.counted().filter(task__campaign=campaign).filter(in_results_condition(campaign))


def in_results_condition(campaign: "Campaign | int") -> models.Q:
    """Which of a campaign's counted judgments are in its results (in_results_of): also a column where one query
    reads all of them (reviews.results reads reviewers' durations from every counted judgment)."""
    excluded = ReviewerExclusion.objects.filter(campaign=campaign).values("reviewer_id")
    return models.Q(task__known_answer__isnull=True) & ~models.Q(reviewer_id__in=excluded)


class Judgment(models.Model):
    class Choice(models.TextChoices):
        A = "A"
        B = "B"
        TIE = "tie"
        BOTH_BAD = "both_bad"

    assignment = models.ForeignKey(Assignment, on_delete=models.PROTECT, related_name="judgments")
    task = models.ForeignKey(Task, on_delete=models.PROTECT, related_name="judgments")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="judgments")
    # One of these holds the judgment, by campaign kind. Slots are as shown; assignment.slot_order de-blinds them.
    choice = models.CharField(max_length=10, choices=Choice.choices, blank=True)
    labels = models.JSONField(default=list, blank=True)
    ranking = models.JSONField(default=list, blank=True)  # [["B"], ["A", "C"]]: best first, ties grouped
    ratings = models.JSONField(default=dict, blank=True)  # {"A": {"accuracy": 4, "safe": "pass"}}
    rationale = models.TextField(blank=True)  # the reviewer's comment
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    client_id = models.CharField(max_length=64, blank=True)  # the browser's id for this submission: retries count once
    created_at = models.DateTimeField(auto_now_add=True)
    # Undone by the reviewer within the undo window: kept, but no longer counted.
    retracted_at = models.DateTimeField(null=True, blank=True)
    # Discarded by the campaign lead with a reason: kept for the audit, excluded from results.
    discarded_at = models.DateTimeField(null=True, blank=True)
    discarded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    discard_reason = models.TextField(blank=True)
    # A reviewer's change of an earlier answer (reviews.services.judgment_changes.judgment_change): the earlier judgment is
    # kept, retracted, and this one points at it, so the history reads as a chain and only the newest counts.
    replaces = models.OneToOneField("self", on_delete=models.PROTECT, related_name="replaced_by", null=True, blank=True)

    objects = JudgmentQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "reviewer"],
                name="one_judgment_per_reviewer_per_task",
                condition=models.Q(retracted_at__isnull=True),
            ),
            models.UniqueConstraint(
                fields=["reviewer", "client_id"], name="judgment_client_id_unique", condition=~models.Q(client_id="")
            ),
        ]
        indexes = [
            models.Index(fields=["task", "created_at"], name="judgment_task_idx"),
        ]

    def __str__(self) -> str:
        return f"judgment {self.pk} by reviewer {self.reviewer_id} on task {self.task_id}"


class ReviewerExclusion(models.Model):
    """The lead takes a reviewer's judgments out of a campaign's results, with a reason, on record."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="exclusions")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    excluded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # Results had been opened before the exclusion: the evidence says so, since it could be chosen to move them.
    after_results_visible = models.BooleanField(default=False)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "reviewer"], name="one_exclusion_per_reviewer_per_campaign"),
        ]

    def __str__(self) -> str:
        return f"reviewer {self.reviewer_id} excluded from campaign {self.campaign_id}"


class GateTally(models.Model):
    """The gate's running state for a campaign, kept up to date in the transaction of every judgment counted, undone
    or discarded (reviews.services.gate_tally): the units in (judged items), their sum, the win-rate counts, and the
    first crossing of a boundary as units were appended. The gate check decides from it without reading every
    judgment. `stale`: a change it cannot follow exactly (a unit taken out of the middle of the path, an exclusion)
    happened, and the next check rebuilds it from the judgments."""

    class Crossing(models.TextChoices):
        NONE = ""
        PASS = "pass"
        FAIL = "fail"

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, primary_key=True, related_name="gate_tally")
    # What the sums were computed under (kind, overlap, versions, rubric, labels, policy, resolution): a campaign
    # edited since makes the check rebuild it.
    fingerprint = models.CharField(max_length=64)
    resolution = models.PositiveIntegerField()  # lattice steps per unit of outcome (reviews.plan.outcome_resolution)
    units = models.PositiveIntegerField(default=0)
    steps = models.BigIntegerField(default=0)  # the units' outcomes summed, in lattice steps (exact)
    judgments = models.PositiveIntegerField(default=0)  # counted judgments the results can read
    unreadable = models.PositiveIntegerField(default=0)  # counted judgments they cannot: these hold the gate
    wins = models.PositiveIntegerField(default=0)  # the results' win-rate counts (reviews.results.outcome_counts)
    losses = models.PositiveIntegerField(default=0)
    ties = models.PositiveIntegerField(default=0)
    both_bad = models.PositiveIntegerField(default=0)
    # The highest id of a judgment that completed a unit: units are ordered by it, so a unit completed by a lower
    # id would belong earlier in the path, which a running sum cannot insert.
    last_unit_judgment = models.BigIntegerField(default=0)
    # The newest judgment of the campaign this state has seen: a newer one written around the services makes the
    # check rebuild.
    seen_through = models.BigIntegerField(default=0)
    crossing = models.CharField(max_length=4, choices=Crossing.choices, blank=True, default=Crossing.NONE)
    crossed_at = models.PositiveIntegerField(null=True, blank=True)  # units in at the first crossing
    crossed_steps = models.BigIntegerField(null=True, blank=True)  # their sum there
    stale = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(steps__gte=0), name="gate_tally_steps_not_negative"),
            models.CheckConstraint(
                condition=(
                    models.Q(crossing="", crossed_at__isnull=True, crossed_steps__isnull=True)
                    | (
                        ~models.Q(crossing="")
                        & models.Q(
                            crossed_at__isnull=False, crossed_steps__isnull=False, crossed_at__lte=models.F("units")
                        )
                    )
                ),
                name="gate_tally_crossing_complete_and_within_units",
            ),
        ]

    def __str__(self) -> str:
        return f"gate tally of campaign {self.campaign_id}: {self.units} units{' (stale)' if self.stale else ''}"


# The past tense of a decision, spelt out: "reject" + "d" read "rejectd" in the pages that built it.
DECISION_PAST = {"approve": "approved", "reject": "rejected"}


class Approval(models.Model):
    """One approver's sign-off. A verdict is written once enough approvals agree (the policy's `approvers`),
    or at the first rejection."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=10, choices=[("approve", "approve"), ("reject", "reject")])
    rationale = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "approver"], name="one_approval_per_approver_per_campaign"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} by approver {self.approver_id} on campaign {self.campaign_id}"

    @property
    def decision_past(self) -> str:
        return DECISION_PAST[self.decision]


class Verdict(models.Model):
    """An approver's signed decision. Append-only, and chained by hash to the verdict before it."""

    class Decision(models.TextChoices):
        APPROVE = "approve"
        REJECT = "reject"

    campaign = models.OneToOneField(Campaign, on_delete=models.PROTECT, related_name="verdict")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    rationale = models.TextField()
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="verdicts")
    signed_at = models.DateTimeField()
    evidence = models.JSONField()
    previous_hash = models.CharField(max_length=64, unique=True)  # two verdicts can never claim the same predecessor
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-signed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.decision} of campaign {self.campaign_id}"

    @property
    def decision_past(self) -> str:
        """The decision in words for a sentence: approved or rejected."""
        return DECISION_PAST[self.decision]


class ChainCheck(models.Model):
    """One verification of the verdict hash chain (scheduled, on demand, or before a sign-off). Append-only.

    A failed check blocks new sign-offs until an admin acknowledges it. The newest passing check is also an
    anchor: a later check that finds fewer verdicts, or no longer finds the head it saw, is broken."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule"
        DEMAND = "demand"
        SIGNOFF = "signoff"

    checked_at = models.DateTimeField(auto_now_add=True)
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    ok = models.BooleanField()
    count = models.PositiveIntegerField()
    head = models.CharField(max_length=64, blank=True)
    broken_at = models.BigIntegerField(null=True, blank=True)  # the first verdict id that does not hold
    reason = models.TextField(blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledgment_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"chain check {self.pk} ({self.trigger}): {'ok' if self.ok else f'broken at {self.broken_at}'}"


class LabelStudioImportRecord(BaseModel):
    """What importing one Label Studio export made and reported, kept so the same bytes imported again answer what
    the first import did (the references it set, the ties it broke, the tasks whose predictions were ids only)."""

    version = models.OneToOneField(DatasetVersion, on_delete=models.CASCADE, related_name="label_studio_import")
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    report = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"Label Studio import of {self.version}"
