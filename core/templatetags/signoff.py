import json

from django import template

register = template.Library()


@register.filter
def json_pretty(value) -> str:
    """Indented JSON for display; the template's autoescaping still applies."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@register.simple_tag(takes_context=True)
def page_url(context, number) -> str:
    """This list's URL at page `number`, keeping its search and filters (the query string) as they are."""
    query = context["request"].GET.copy()
    query["page"] = number
    return "?" + query.urlencode()


@register.filter
def elided_pages(paginator, number) -> list:
    """Page numbers around `number`, with the first and last, and paginator.ELLIPSIS between."""
    return list(paginator.get_elided_page_range(number, on_each_side=2, on_ends=1))


@register.filter
def is_structured(value) -> bool:
    """An object or a list (shown as JSON), rather than text or a number."""
    return isinstance(value, dict | list)


@register.filter
def json_or_text(value) -> str:
    """Uploaded values as their author wrote them: text as text, anything else as indented JSON in its own key
    order (never Python's repr: `{'question': ...}` is not what was uploaded). Autoescaping still applies."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)
