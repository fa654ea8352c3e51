"""Template filters that render reviews' untrusted content: here, not in core, because core imports no app."""

from django import template
from django.utils.safestring import mark_safe

from reviews.content import render_markdown_safe

register = template.Library()


@register.filter
def markdown_safe(text: str) -> str:
    """Markdown rendered and sanitised (nh3): safe to place in a page."""
    return mark_safe(render_markdown_safe(text or ""))  # nh3 has sanitised it
