"""Browser forms; each one's clean data goes straight into a service."""

from django import forms

from core.models import User
from datasets.models import DatasetVersion
from models_app.models import ModelVersion
from models_app.selectors import model_versions_with_predictions
from reviews.models import Campaign, Verdict

Kind = Campaign.Kind

# The fields only some kinds use (every other field is for all kinds): the form shows these for their kinds only,
# and a value left in a field of another kind is dropped rather than refused.
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "baseline": (Kind.PAIRWISE, Kind.RANKING, Kind.RATING),
    "others": (Kind.RANKING, Kind.RATING),
    "labels": (Kind.LABELING,),
    "multi_label": (Kind.LABELING,),
    "rubric": (Kind.RATING,),
    "items": (Kind.PAIRWISE,),
}
EMPTY_VALUES: dict[str, object] = {
    "baseline": None,
    "others": [],
    "labels": [],
    "multi_label": False,
    "rubric": [],
    "items": Campaign.Items.ALL,
}


def _without_other_kinds_fields(data: dict) -> dict:
    """Empty the fields that the chosen kind does not use (a kind left invalid leaves them as they are)."""
    kind = data.get("kind")
    for name, kinds in KIND_FIELDS.items():
        if kind and kind not in kinds and name in data:
            data[name] = EMPTY_VALUES[name]
    return data


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=Campaign.Kind.choices)
    dataset_version = forms.ModelChoiceField(
        queryset=DatasetVersion.objects.select_related("dataset").order_by("dataset__name", "-number")
    )
    candidate = forms.ModelChoiceField(queryset=ModelVersion.objects.select_related("model"))
    baseline = forms.ModelChoiceField(
        queryset=ModelVersion.objects.select_related("model"),
        required=False,
        help_text="Pairwise (required), ranking and rating (optional): the version the candidate is compared with.",
    )
    others = forms.ModelMultipleChoiceField(
        queryset=ModelVersion.objects.select_related("model"),
        required=False,
        label="Other versions",
        help_text="Ranking and rating: further versions shown side by side.",
    )
    labels = forms.CharField(required=False, help_text="Labeling only: labels separated by commas.")
    multi_label = forms.BooleanField(required=False, label="Several labels per item")
    rubric = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Rating only: one criterion a line, as 'name: likert' or 'name: pass_fail'.",
    )
    items = forms.ChoiceField(
        choices=[(Campaign.Items.ALL, "all items"), (Campaign.Items.CHANGED, "only items whose outputs differ")],
        initial=Campaign.Items.ALL,
        required=False,
        label="Items to review",
        help_text="Pairwise only: reviewing only the changed items spends no time on identical outputs; the gate then "
        "tests the win rate where the outputs differ.",
    )
    content_format = forms.ChoiceField(
        choices=Campaign.ContentFormat.choices,
        initial=Campaign.ContentFormat.AUTO,
        required=False,
        help_text="How string outputs are shown.",
    )
    sampling = forms.ChoiceField(
        choices=Campaign.Sampling.choices,
        initial=Campaign.Sampling.RANDOM,
        required=False,
        help_text="random; stratified by each item's first tag; or disagreement first.",
    )
    quota_per_reviewer = forms.IntegerField(
        min_value=1, required=False, help_text="At most this many items per reviewer."
    )
    lease_seconds = forms.IntegerField(
        min_value=10, initial=600, required=False, help_text="An item left this long goes back to the pool."
    )
    reviewers = forms.ModelMultipleChoiceField(
        queryset=User.objects.filter(is_active=True, role=User.Role.REVIEWER).order_by("username"),
        widget=forms.CheckboxSelectMultiple,
    )
    overlap = forms.IntegerField(min_value=1, initial=1, help_text="How many different reviewers judge each item.")
    min_judgments = forms.IntegerField(
        min_value=1,
        initial=30,
        label="Gate: judged items before any decision",
        help_text="A floor: the gate decides neither pass nor fail before this many items are judged.",
    )
    min_win_rate = forms.FloatField(
        min_value=0.01,
        max_value=0.98,
        initial=0.5,
        label="Gate: the win rate to beat",
        help_text="0.5: the candidate must be shown better than the baseline (ties count as half).",
    )
    alternative = forms.FloatField(
        min_value=0.02,
        max_value=0.99,
        required=False,
        label="Gate: the win rate to detect",
        help_text="The test has its power at this rate (default: the rate to beat + 0.1).",
    )
    power = forms.FloatField(
        min_value=0.5,
        max_value=0.99,
        initial=0.8,
        required=False,
        label="Gate: power wanted",
        help_text="The plan below warns when the campaign is too small to reach it.",
    )
    guidelines = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}), required=False, help_text="Shown to reviewers beside every task."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, kinds in KIND_FIELDS.items():  # campaign_new.js shows each of these for its kinds only
            self.fields[name].widget.attrs["data-kinds"] = " ".join(kinds)

    def clean_rubric(self) -> list[dict]:
        criteria = []
        for line in self.cleaned_data["rubric"].splitlines():
            if not line.strip():
                continue
            name, _, scale = line.partition(":")
            criteria.append({"name": name.strip(), "scale": scale.strip() or "likert"})
        return criteria

    def clean_labels(self) -> list[str]:
        return [label.strip() for label in self.cleaned_data["labels"].split(",") if label.strip()]

    def clean(self) -> dict:
        super().clean()
        data = _without_other_kinds_fields(self.cleaned_data)
        self._check_predictions(data)
        return data

    def _check_predictions(self, data: dict) -> None:
        """Each chosen version needs predictions on the dataset version: said on its field, before the service
        would refuse the campaign as a whole."""
        dataset_version = data.get("dataset_version")
        if dataset_version is None:
            return
        having = set(model_versions_with_predictions(dataset_version=dataset_version).values_list("pk", flat=True))
        for name in ("candidate", "baseline"):
            version = data.get(name)
            if version is not None and version.pk not in having:
                self.add_error(name, f"{version} has no predictions on {dataset_version}.")
        missing = [str(v) for v in data.get("others") or [] if v.pk not in having]
        if missing:
            self.add_error("others", f"No predictions on {dataset_version}: {', '.join(missing)}.")

    GATE_FIELDS = ("min_judgments", "min_win_rate", "alternative", "power")

    def gate_policy(self) -> dict:
        """The gate fields the user filled in, as a policy dict (empty ones take the policy's defaults)."""
        return {
            name: self.cleaned_data[name] for name in self.GATE_FIELDS if self.cleaned_data.get(name) not in (None, "")
        }


class CampaignPreviewForm(forms.Form):
    """The new-campaign form's fields that decide what its first task looks like (the rest may still be empty)."""

    kind = CampaignForm.base_fields["kind"]
    dataset_version = CampaignForm.base_fields["dataset_version"]
    candidate = CampaignForm.base_fields["candidate"]
    baseline = CampaignForm.base_fields["baseline"]
    others = CampaignForm.base_fields["others"]
    items = CampaignForm.base_fields["items"]  # a diff-first campaign's first task is its first changed item
    labels = CampaignForm.base_fields["labels"]
    rubric = CampaignForm.base_fields["rubric"]
    content_format = CampaignForm.base_fields["content_format"]

    clean_rubric = CampaignForm.clean_rubric
    clean_labels = CampaignForm.clean_labels

    def clean(self) -> dict:
        super().clean()
        return _without_other_kinds_fields(self.cleaned_data)


class SignoffForm(forms.Form):
    decision = forms.ChoiceField(choices=Verdict.Decision.choices, widget=forms.RadioSelect)
    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)
