"""Dataset and item list filters, shared by the API lists and the dataset pages (django-filter)."""

from django.db.models import QuerySet
from django_filters import rest_framework as filters

from datasets.models import Dataset, Item


def _name_contains(queryset: QuerySet, name: str, value: str) -> QuerySet:
    return queryset.filter(name__icontains=value.strip()) if value.strip() else queryset


class DatasetFilter(filters.FilterSet):
    search = filters.CharFilter(method=_name_contains, label="Search", help_text="part of the dataset's name")

    class Meta:
        model = Dataset
        fields: list[str] = []


class ItemFilter(filters.FilterSet):
    search = filters.CharFilter(
        field_name="external_id", lookup_expr="icontains", label="Search", help_text="part of the item's id"
    )

    class Meta:
        model = Item
        fields: list[str] = []
