"""The API's list views: filtered with django-filter, then paged (core.pagination)."""

from django_filters.rest_framework import DjangoFilterBackend, FilterSet
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response


class PagedListView(GenericAPIView):
    """An API view whose GET is a list: filtered by its `filterset_class`, then paged.

    Plain APIViews never page (DRF applies pagination only through GenericAPIView), which is why the lists
    returned every row while DEFAULT_PAGINATION_CLASS was set. Subclasses set `queryset = Model.objects.none()`
    for the schema's filter parameters only; their get() passes the rows the caller may see."""

    filter_backends = [DjangoFilterBackend]
    filterset_class: type[FilterSet] | None = None
    # what the browsable API's form is built from: the input of the view's POST, or no field for a list alone
    serializer_class: type[serializers.BaseSerializer] = serializers.Serializer

    def paged_response(self, rows, serializer_class) -> Response:
        if self.filterset_class is not None:
            rows = self.filter_queryset(rows)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(serializer_class(page, many=True).data)
