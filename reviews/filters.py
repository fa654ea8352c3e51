"""Campaign list filters, shared by `GET /api/v1/campaigns/` and the campaign pages (django-filter)."""

from django.db.models import Exists, OuterRef, Q, QuerySet
from django_filters import rest_framework as filters

from core.filters import ANY, YesNoFilter
from core.models import User
from reviews.models import Campaign

# a reviewer's campaigns are blind: a filter by model, dataset or the gate would tell them what their answers hide
RESULTS_FILTERS = ("model", "dataset", "decided")

DECIDED_HELP = "true: the gate decided (pass or fail); false: not yet"


class CampaignFilter(filters.FilterSet):
    """django-filter calls a `method` only with a value: an empty one leaves the rows as they are."""

    search = filters.CharFilter(method="filter_search", label="Search", help_text="part of the campaign's name")
    status = filters.ChoiceFilter(choices=Campaign.Status.choices, empty_label=ANY)
    kind = filters.ChoiceFilter(choices=Campaign.Kind.choices, empty_label=ANY)
    model = filters.CharFilter(
        method="filter_model", label="Model", help_text="a model's name: candidate, baseline or other"
    )
    dataset = filters.CharFilter(
        field_name="dataset_version__dataset__name", label="Dataset", help_text="a dataset's name"
    )
    decided = YesNoFilter(method="filter_decided", label="Gate decided", help_text=DECIDED_HELP)
    mine = YesNoFilter(
        method="filter_mine",
        label="Mine",
        help_text="true: campaigns you lead or review; false: the others",
    )

    shown: tuple[str, ...] | None = None  # the filters a page offers (None: all)

    class Meta:
        model = Campaign
        fields: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        user = getattr(self.request, "user", None)
        if user is None or not user.has_role(User.Role.DATA_SCIENTIST, User.Role.APPROVER):
            for name in RESULTS_FILTERS:
                del self.filters[name]  # ignored for them, as an unknown parameter is
        for name in set(self.filters) - set(self.shown or self.filters):
            del self.filters[name]

    def filter_search(self, queryset: QuerySet[Campaign], name: str, value: str) -> QuerySet[Campaign]:
        return queryset.filter(name__icontains=value.strip()) if value.strip() else queryset

    def filter_model(self, queryset: QuerySet[Campaign], name: str, value: str) -> QuerySet[Campaign]:
        others = Campaign.others.through.objects.filter(campaign=OuterRef("pk"), modelversion__model__name=value)
        return queryset.filter(Q(candidate__model__name=value) | Q(baseline__model__name=value) | Exists(others))

    def filter_decided(self, queryset: QuerySet[Campaign], name: str, value: bool) -> QuerySet[Campaign]:
        return queryset.exclude(decision="") if value else queryset.filter(decision="")

    def filter_mine(self, queryset: QuerySet[Campaign], name: str, value: bool) -> QuerySet[Campaign]:
        user = getattr(self.request, "user", None)
        if user is None:
            return queryset
        reviews = Campaign.reviewers.through.objects.filter(campaign=OuterRef("pk"), user=user)
        mine = Q(created_by=user) | Exists(reviews)
        return queryset.filter(mine) if value else queryset.exclude(mine)


class ReviewerQueueFilter(CampaignFilter):
    """The reviewer's home: their active and paused campaigns, by name and kind."""

    shown = ("search", "kind", "status")


class ApproverQueueFilter(CampaignFilter):
    """The approver's queue: decided campaigns awaiting them, by name, kind, model and dataset."""

    shown = ("search", "kind", "model", "dataset")
