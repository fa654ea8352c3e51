"""Registry list filters, shared by the API lists and the registry page (django-filter)."""

from django.db.models import QuerySet
from django_filters import rest_framework as filters

from core.filters import ANY
from models_app.models import ModelVersion, RegisteredModel


class RegisteredModelFilter(filters.FilterSet):
    search = filters.CharFilter(method="filter_search", label="Search", help_text="part of the model's name")
    stage = filters.ChoiceFilter(
        choices=ModelVersion.Stage.choices,
        empty_label=ANY,
        method="filter_stage",
        help_text="models with a version at this stage",
    )

    class Meta:
        model = RegisteredModel
        fields: list[str] = []

    def filter_search(self, queryset: QuerySet[RegisteredModel], name: str, value: str) -> QuerySet[RegisteredModel]:
        return queryset.filter(name__icontains=value.strip()) if value.strip() else queryset

    def filter_stage(self, queryset: QuerySet[RegisteredModel], name: str, value: str) -> QuerySet[RegisteredModel]:
        return queryset.filter(pk__in=ModelVersion.objects.filter(stage=value).values("model_id"))


class ModelVersionFilter(filters.FilterSet):
    stage = filters.ChoiceFilter(choices=ModelVersion.Stage.choices, empty_label=ANY)
    search = filters.CharFilter(
        field_name="version", lookup_expr="icontains", label="Search", help_text="part of the version"
    )

    class Meta:
        model = ModelVersion
        fields: list[str] = []
