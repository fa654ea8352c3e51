import json

from django import template

register = template.Library()


@register.filter
def json_pretty(value) -> str:
    """Indented JSON for display; the template's autoescaping still applies."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@register.filter
def markdown_safe(text: str) -> str:
    """Markdown rendered and sanitised (nh3): safe to place in a page."""
    from django.utils.safestring import mark_safe

    from reviews.content import render_markdown_safe

    return mark_safe(render_markdown_safe(text or ""))
