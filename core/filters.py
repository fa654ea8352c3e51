"""What every list's filters share (django-filter): yes/no filters that refuse what is neither, and how an unset
choice reads on the page."""

from django import forms
from django.core.exceptions import ValidationError
from django_filters import BooleanFilter
from django_filters.widgets import BooleanWidget

_READS = {"true": True, "false": False, "1": True, "0": False}


class AnyYesNoWidget(BooleanWidget):
    """A yes/no filter whose unset value reads "Any" (django-filter says "Unknown"); `true`/`false` in the URL.
    Anything else is handed on as given, for the field to refuse (django-filter's widget reads it as unset)."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = [("", "Any"), ("true", "Yes"), ("false", "No")]

    def value_from_datadict(self, data, files, name):
        value = data.get(name)
        if value is None or value == "":
            return None
        return _READS.get(value.lower(), value) if isinstance(value, str) else value


class _YesNoField(forms.NullBooleanField):
    """Keeps what it cannot read (NullBooleanField reads it as unset), so that validation refuses it."""

    def to_python(self, value):
        return value

    def validate(self, value):
        if value is not None and not isinstance(value, bool):
            raise ValidationError("Expected true or false.", code="invalid")


class YesNoFilter(BooleanFilter):
    """A boolean filter: `true`, `false` (or 1, 0) or unset. Anything else is a 400 on the API, as the schema says
    (a list page ignores it, as it does any unreadable filter)."""

    field_class = _YesNoField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", AnyYesNoWidget)
        super().__init__(*args, **kwargs)


ANY = "Any"  # a choice filter's empty label
