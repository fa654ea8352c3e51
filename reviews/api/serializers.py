from rest_framework import serializers

from models_app.models import ModelVersion
from reviews.models import Campaign, Judgment, Verdict


class RubricCriterionSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scale = serializers.ChoiceField(choices=["likert", "pass_fail"], default="likert")
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=1000)


class CampaignCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=Campaign.Kind.choices)
    dataset = serializers.SlugField()
    dataset_version = serializers.IntegerField(min_value=1)
    candidate = serializers.CharField(help_text="model:version — the version the gate is about")
    baseline = serializers.CharField(
        required=False,
        allow_null=True,
        default=None,
        help_text="model:version (pairwise; optional for ranking and rating)",
    )
    models = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        default=list,
        help_text="ranking/rating: further model:version refs shown side by side",
    )
    labels = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list)
    multi_label = serializers.BooleanField(required=False, default=False)
    show_suggestion = serializers.BooleanField(required=False, default=True)
    rubric = RubricCriterionSerializer(many=True, required=False, default=list)
    content_format = serializers.ChoiceField(
        choices=Campaign.ContentFormat.choices, default=Campaign.ContentFormat.AUTO
    )
    reviewers = serializers.ListField(child=serializers.CharField(max_length=150), allow_empty=False)
    overlap = serializers.IntegerField(min_value=1, default=1)
    sampling = serializers.ChoiceField(choices=Campaign.Sampling.choices, default=Campaign.Sampling.RANDOM)
    quota_per_reviewer = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)
    lease_seconds = serializers.IntegerField(min_value=10, default=600)
    gate = serializers.DictField(required=False, default=dict)
    guidelines = serializers.CharField(required=False, allow_blank=True, default="")
    known_answers = serializers.JSONField(
        required=False,
        allow_null=True,
        default=None,
        help_text='known-answer items, mixed into every reviewer\'s queue to measure them: [{"item": "<item id>", "answer": ...}] '
        'with, by kind, pairwise "candidate" | "baseline" | "tie"; ranking the model:version ranked first; rating '
        '"acceptable" | "unacceptable" (the candidate\'s output); labeling a label or a list of labels. Labeling '
        'also takes "reference": every item whose reference is among the labels. They are not part of the '
        "campaign's work, results or gate.",
    )
    known_answer_rate = serializers.FloatField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0,
        max_value=0.5,
        help_text="the share of each reviewer's tasks drawn from the known-answer items (0 to 0.5; 0.1 when known_answers are given, else 0)",
    )
    min_seconds = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        help_text="judgments faster than this are flagged to the lead",
    )
    items = serializers.ChoiceField(
        choices=Campaign.Items.choices,
        default=Campaign.Items.ALL,
        help_text='pairwise only: "changed" makes tasks only of items whose candidate and baseline outputs differ '
        "(JSON by value, text exactly); identical ones are counted in `identical_items` and left out of the gate, "
        "which then tests the win rate where the outputs differ",
    )


class PlanSerializer(serializers.Serializer):
    """What the gate can do at the campaign's size (reviews/plan.py), in its unit: judged items."""

    unit = serializers.CharField()
    judgments_per_item = serializers.IntegerField()
    power = serializers.FloatField(help_text="the chance of a pass if the true win rate is the policy's alternative")
    max_judgments = serializers.IntegerField(help_text="the planned end: the gate decides by then")
    expected_judgments = serializers.DictField(child=serializers.FloatField(), help_text="null, alternative")
    p90_judgments = serializers.DictField(child=serializers.IntegerField(), help_text="null, alternative")
    end_bar_win_rate = serializers.FloatField(allow_null=True, help_text="the win rate that passes at the end")
    warnings = serializers.ListField(child=serializers.CharField())


class CampaignCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    tasks = serializers.IntegerField(help_text="the campaign's work: its tasks other than known-answer items")
    known_answer_tasks = serializers.IntegerField()
    items = serializers.ChoiceField(choices=Campaign.Items.choices, help_text="all, or changed (diff-first)")
    identical_items = serializers.IntegerField(
        help_text="diff-first: items left out because both outputs were identical (0 otherwise)"
    )
    plan = PlanSerializer()


def _ref(model_version: ModelVersion) -> str:
    return f"{model_version.model.name}:{model_version.version}"


class CampaignSerializer(serializers.ModelSerializer):
    """The full campaign, for data scientists and approvers."""

    dataset = serializers.CharField(source="dataset_version.dataset.name")
    dataset_version = serializers.IntegerField(source="dataset_version.number")
    candidate = serializers.SerializerMethodField()
    baseline = serializers.SerializerMethodField()
    models = serializers.SerializerMethodField()
    reviewers = serializers.SerializerMethodField()
    gate = serializers.JSONField(source="gate_policy")
    plan = PlanSerializer(read_only=True)
    gate_state = serializers.JSONField(read_only=True, help_text="the gate as its last check saw it")
    decision = serializers.CharField(
        read_only=True, help_text="the gate's recorded decision: pass, fail, or empty while it has none"
    )

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "kind",
            "status",
            "status_reason",
            "dataset",
            "dataset_version",
            "candidate",
            "baseline",
            "models",
            "labels",
            "multi_label",
            "rubric",
            "content_format",
            "reviewers",
            "overlap",
            "sampling",
            "quota_per_reviewer",
            "lease_seconds",
            "gate",
            "plan",
            "gate_state",
            "decision",
            "guidelines",
            "known_answer_rate",
            "min_seconds",
            "items",
            "identical_items",
            "created_at",
        ]

    def get_candidate(self, campaign: Campaign) -> str:
        return _ref(campaign.candidate)

    def get_reviewers(self, campaign: Campaign) -> list[str]:
        return sorted(u.username for u in campaign.reviewers.all())  # one order on every database (reads the prefetch)

    def get_baseline(self, campaign: Campaign) -> str | None:
        return _ref(campaign.baseline) if campaign.baseline else None

    def get_models(self, campaign: Campaign) -> list[str]:
        return [_ref(v) for v in campaign.others.all()]


class BlindCampaignSerializer(serializers.ModelSerializer):
    """What a reviewer may know: no model names, no results."""

    class Meta:
        model = Campaign
        fields = ["id", "name", "kind", "status", "labels", "multi_label", "rubric", "guidelines"]


class OutputSerializer(serializers.Serializer):
    slot = serializers.CharField()
    output = serializers.JSONField(help_text="the raw output, untrusted")
    content = serializers.JSONField(help_text="the output prepared for display: sanitised HTML or plain data")


class TaskPayloadSerializer(serializers.Serializer):
    task = serializers.IntegerField()
    campaign = serializers.IntegerField()
    kind = serializers.CharField()
    item = serializers.CharField()
    input = serializers.JSONField()
    input_content = serializers.JSONField()
    image_url = serializers.CharField(allow_null=True)
    lease_expires_at = serializers.DateTimeField(allow_null=True)
    outputs = OutputSerializer(many=True, required=False)
    labels = serializers.ListField(child=serializers.CharField(), required=False)
    multi_label = serializers.BooleanField(required=False)
    suggestion = serializers.JSONField(required=False, allow_null=True)
    rubric = serializers.ListField(child=serializers.DictField(), required=False)
    progress = serializers.DictField(required=False)


class JudgmentCreateSerializer(serializers.Serializer):
    choice = serializers.ChoiceField(choices=Judgment.Choice.choices, required=False, allow_null=True)
    labels = serializers.ListField(child=serializers.CharField(max_length=100), required=False, allow_null=True)
    ranking = serializers.JSONField(
        required=False, allow_null=True, help_text='best first; tied slots share a list: [["B"], ["A", "C"]]'
    )
    ratings = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="{criterion: value}, or {slot: {criterion: value}} for several outputs",
    )
    rationale = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    comment = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=5000, help_text="same as rationale"
    )
    duration_ms = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    client_id = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=64,
        help_text="the client's id for this submission: a retry with the same id counts once",
    )

    def validate(self, attrs):
        if not any(attrs.get(name) for name in ("choice", "labels", "ranking", "ratings")):
            raise serializers.ValidationError("Give a choice (pairwise), a ranking, ratings, or labels (labeling).")
        attrs["rationale"] = attrs.get("rationale") or attrs.pop("comment", "")
        attrs.pop("comment", None)
        return attrs


_DATETIME = serializers.DateTimeField()


def _datetime(value):
    return None if value is None else _DATETIME.to_representation(value)


class JudgmentSerializer(serializers.ModelSerializer):
    reviewer = serializers.CharField(source="reviewer.username")

    class Meta:
        model = Judgment
        fields = [
            "id",
            "task",
            "reviewer",
            "choice",
            "labels",
            "ranking",
            "ratings",
            "rationale",
            "duration_ms",
            "client_id",
            "created_at",
            "retracted_at",
            "discarded_at",
            "discard_reason",
            "replaces",
        ]

    def to_representation(self, judgment: Judgment) -> dict:
        """By hand: every submission answers with this, and DRF's field-by-field path cost as much CPU as recording
        the judgment (docs/bench-next-task.md, "Figures the code's comments point to"). The fields above still
        document it, and a test keeps the two equal."""
        return {
            "id": judgment.pk,
            "task": judgment.task_id,
            "reviewer": judgment.reviewer.username,
            "choice": judgment.choice,
            "labels": judgment.labels,
            "ranking": judgment.ranking,
            "ratings": judgment.ratings,
            "rationale": judgment.rationale,
            "duration_ms": judgment.duration_ms,
            "client_id": judgment.client_id,
            "created_at": _datetime(judgment.created_at),
            "retracted_at": _datetime(judgment.retracted_at),
            "discarded_at": _datetime(judgment.discarded_at),
            "discard_reason": judgment.discard_reason,
            "replaces": judgment.replaces_id,
        }


class SkipSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)
    flag = serializers.BooleanField(default=False, help_text="report the item as bad data")


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class AssignmentStatusSerializer(serializers.Serializer):
    task = serializers.IntegerField(source="task_id")
    status = serializers.CharField()
    skip_reason = serializers.CharField()
    flagged = serializers.BooleanField()


class GoldVersionSerializer(serializers.Serializer):
    dataset = serializers.CharField()
    version = serializers.IntegerField()
    sha256 = serializers.CharField()
    items = serializers.IntegerField()
    labelled = serializers.IntegerField()
    unresolved = serializers.ListField(child=serializers.CharField())
    created = serializers.BooleanField()


class IntervalSerializer(serializers.Serializer):
    estimate = serializers.FloatField(allow_null=True)
    low = serializers.FloatField(allow_null=True)
    high = serializers.FloatField(allow_null=True)


class CountsSerializer(serializers.Serializer):
    wins = serializers.IntegerField()
    losses = serializers.IntegerField()
    ties = serializers.IntegerField()
    both_bad = serializers.IntegerField()


class GateEvaluationSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["pass", "fail", "pending"],
        help_text="pending: the sequential test says continue, or a floor of the policy is not met yet",
    )
    reasons = serializers.ListField(child=serializers.CharField())
    decided_at = serializers.IntegerField(
        allow_null=True, help_text="the number of outcomes at which the sequential test decided"
    )
    method = serializers.CharField(help_text="the test, in words")
    unit = serializers.CharField(
        help_text="what one outcome of the test is: a judgment, or an item's mean when several reviewers judge it"
    )
    recorded = serializers.DictField(
        help_text="the decision as recorded on the campaign the first time the gate decided"
    )


class SequenceSerializer(serializers.Serializer):
    n = serializers.ListField(child=serializers.IntegerField())
    llr = serializers.ListField(child=serializers.FloatField(), help_text="log evidence ratio after n outcomes")
    log_pass = serializers.FloatField()
    log_fail = serializers.FloatField()
    decided_at = serializers.IntegerField(allow_null=True)


class KappaPairSerializer(serializers.Serializer):
    a = serializers.CharField()
    b = serializers.CharField()
    n = serializers.IntegerField()
    kappa = serializers.FloatField(allow_null=True)


class AgreementSerializer(serializers.Serializer):
    krippendorff_alpha = serializers.FloatField(allow_null=True)
    metric = serializers.ChoiceField(choices=["nominal", "ordinal", "interval"])
    units = serializers.IntegerField(help_text="items judged by two or more reviewers")
    pairs = KappaPairSerializer(many=True, help_text="Cohen's kappa per reviewer pair")
    consensus = serializers.ListField(
        child=serializers.DictField(), help_text="each reviewer's agreement with the others' majority"
    )
    outliers = serializers.DictField()


class ReviewerQualitySerializer(serializers.Serializer):
    reviewer = serializers.CharField()
    excluded = serializers.BooleanField()
    judgments = serializers.IntegerField(help_text="counted judgments, known-answer items included")
    known_answered = serializers.IntegerField()
    known_correct = serializers.IntegerField()
    accuracy = IntervalSerializer(
        help_text="share of known-answer items answered right, Wilson 95% interval (null with none answered)"
    )
    median_seconds = serializers.FloatField(allow_null=True, help_text="median time per judgment (those with a time)")
    timed_judgments = serializers.IntegerField()
    fast_judgments = serializers.IntegerField(help_text="judgments faster than the campaign's min_seconds")


class ReviewerQualityBlockSerializer(serializers.Serializer):
    known_answer_items = serializers.IntegerField()
    known_answer_rate = serializers.FloatField()
    min_seconds = serializers.IntegerField(allow_null=True)
    by_reviewer = ReviewerQualitySerializer(many=True)


class ExclusionSerializer(serializers.Serializer):
    reviewer = serializers.CharField()
    reason = serializers.CharField()
    excluded_by = serializers.CharField()
    at = serializers.DateTimeField()
    after_results_visible = serializers.BooleanField(help_text="someone had opened the results before the exclusion")
    note = serializers.CharField(
        help_text='"excluded after results were visible", or "excluded before anyone saw results"'
    )


class ExclusionCreateSerializer(serializers.Serializer):
    reviewer = serializers.CharField(max_length=150, help_text="the reviewer's username")
    reason = serializers.CharField(max_length=2000)


class ProblemSerializer(serializers.Serializer):
    block = serializers.CharField(
        help_text="the part of the results concerned: judgments, versions, evidence, labeling, gate, ..."
    )
    message = serializers.CharField(help_text="what is wrong and where, in words")


class DiffFirstSerializer(serializers.Serializer):
    changed_items = serializers.IntegerField(help_text="items whose outputs differ: the campaign's tasks")
    identical_items = serializers.IntegerField(help_text="items left out because both outputs were identical")
    text = serializers.CharField(help_text="what the gate tests, in words")
    implied_win_rate = IntervalSerializer(help_text="over all items, identical outputs counted as ties")
    implied_method = serializers.CharField()


class ResultsSerializer(serializers.Serializer):
    campaign = serializers.IntegerField()
    kind = serializers.CharField()
    judgments = serializers.IntegerField()
    candidate = CountsSerializer()
    win_rate = IntervalSerializer()
    win_rate_method = serializers.CharField()
    diff_first = DiffFirstSerializer(
        allow_null=True, help_text='null unless the campaign was created with "items": "changed"'
    )
    gate = GateEvaluationSerializer()
    sequence = SequenceSerializer(allow_null=True)
    policy = serializers.DictField()
    progress = serializers.DictField()
    agreement = AgreementSerializer(allow_null=True, help_text="null until items are judged by two or more reviewers")
    slices = serializers.DictField(help_text="per item tag (and 'all'): judgments and the win rate with its interval")
    timeline = serializers.DictField(help_text="cumulative judgments per hour or day")
    disagreements = serializers.ListField(
        child=serializers.DictField(), help_text="contested items, most divided first"
    )
    versions = serializers.ListField(child=serializers.CharField())
    position_bias = serializers.DictField(
        required=False, help_text="pairwise: how often the output shown as A won among decisive judgments"
    )
    mean_rank = serializers.DictField(
        required=False, help_text="ranking: mean rank per model version with a 95% interval"
    )
    plackett_luce = serializers.DictField(
        required=False, help_text="ranking: Plackett–Luce scores with bootstrap intervals"
    )
    bradley_terry = serializers.DictField(
        required=False,
        help_text="ranking of three or more versions: Bradley–Terry scores (Davidson ties) with bootstrap intervals",
    )
    criteria = serializers.DictField(
        required=False, help_text="rating: per model version and criterion, mean (Likert) or pass rate"
    )
    difference_to_baseline = serializers.DictField(
        required=False, help_text="rating: candidate minus baseline per criterion, 95% interval"
    )
    labeling = serializers.DictField(
        required=False, help_text="labeling: gold labels, accuracy per version, confusion matrix"
    )
    reviewers = ReviewerQualityBlockSerializer(
        help_text="each reviewer's quality: known-answer accuracy, time per judgment, fast judgments"
    )
    exclusions = ExclusionSerializer(
        many=True, help_text="reviewers the lead excluded: their judgments count nowhere in these results"
    )
    problems = ProblemSerializer(
        many=True,
        help_text="bad data in the campaign (judgments that cannot be read, labels outside "
        "its set, versions or prediction sets gone) and blocks that could not be "
        "computed because of it; empty when there is none",
    )
    computed_at = serializers.DateTimeField(
        help_text="when the data these results describe was read; while judgments arrive, up to "
        "SIGNOFF_RESULTS_MAX_STALE_SECONDS (5 s) before the latest one, never before the lead's own last change"
    )


class SignoffSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=Verdict.Decision.choices)
    rationale = serializers.CharField(max_length=5000)


class ApprovalPendingSerializer(serializers.Serializer):
    approvals = serializers.IntegerField()
    needed = serializers.IntegerField()
    decision = serializers.CharField()


class VerdictSerializer(serializers.ModelSerializer):
    signer = serializers.CharField(source="signer.username")
    campaign = serializers.IntegerField(source="campaign_id")

    class Meta:
        model = Verdict
        fields = ["id", "campaign", "decision", "rationale", "signer", "signed_at", "hash", "previous_hash", "evidence"]


class GateVerdictSerializer(serializers.Serializer):
    """The verdict as CI reads it: what was decided and where it sits in the chain. The rest is evidence."""

    id = serializers.IntegerField()
    decision = serializers.CharField()
    hash = serializers.CharField()
    signed_at = serializers.DateTimeField()
    campaign = serializers.IntegerField(required=False, help_text="with ?evidence=1 only")
    rationale = serializers.CharField(required=False, help_text="with ?evidence=1 only")
    signer = serializers.CharField(required=False, help_text="with ?evidence=1 only")
    previous_hash = serializers.CharField(required=False, help_text="with ?evidence=1 only")
    evidence = serializers.JSONField(required=False, help_text="with ?evidence=1 only: the results frozen at sign-off")


GATE_VERDICT_FIELDS = ("id", "decision", "hash", "signed_at")


class GateStatusSerializer(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.CharField()
    stage = serializers.CharField()
    status = serializers.ChoiceField(choices=["approved", "rejected", "pending", "none"])
    verdict = GateVerdictSerializer(allow_null=True)
