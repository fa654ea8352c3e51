"""Paging of every list, API and page alike: one page size, one ceiling, one way to read `?page=`.
(DRF imports the pagination class while it builds GenericAPIView: nothing here may import DRF's views.)"""

from django.core.paginator import Page, Paginator
from django.http import HttpRequest
from rest_framework import pagination
from rest_framework.exceptions import ValidationError

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


class PageNumberPagination(pagination.PageNumberPagination):
    """`{count, next, previous, results}`; `?page=N`, `?page_size=` up to MAX_PAGE_SIZE."""

    page_size = PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    page_size_query_description = f"rows per page, 1 to {MAX_PAGE_SIZE} (default {PAGE_SIZE})"

    def paginate_queryset(self, queryset, request, view=None):
        # QueryDict.get reads the last of repeated values, so `?page=2&page=3` would silently answer page 3 (and
        # `?page=5.5e16&page=` page 1): a client that sent two should be told which one it sent twice
        for name in (self.page_query_param, self.page_size_query_param):
            if len(request.query_params.getlist(name)) > 1:
                raise ValidationError({name: [f"Give {name} once; it was repeated."]})
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request) -> int | None:
        # DRF falls back to the default for `?page_size=abc`; a client that mistyped it should be told
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and not raw.strip().isdigit():
            raise ValidationError({"page_size": [f"A whole number from 1 to {MAX_PAGE_SIZE}."]})
        return super().get_page_size(request)


def page_size_of(request: HttpRequest, default: int = PAGE_SIZE) -> int:
    try:
        size = int(request.GET.get("page_size", default))
    except ValueError:
        return default
    return min(max(size, 1), MAX_PAGE_SIZE)


def page_of(request: HttpRequest, rows, *, per_page: int | None = None, count: int | None = None) -> Page:
    """The page `?page=` asks for (the last one if past the end, the first if not a number), for list pages.
    `count`, when the caller already knows it (a dataset version's item_count), saves the COUNT(*) query."""
    paginator = Paginator(rows, per_page or page_size_of(request))
    if count is not None:
        paginator.count = count  # a cached_property: set, it is not computed
    return paginator.get_page(request.GET.get("page"))
