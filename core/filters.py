"""What every list's filters share (django-filter): how an unset choice reads on the page."""

from django_filters.widgets import BooleanWidget


class AnyYesNoWidget(BooleanWidget):
    """A yes/no filter whose unset value reads "Any" (django-filter says "Unknown"); `true`/`false` in the URL."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = [("", "Any"), ("true", "Yes"), ("false", "No")]


ANY = "Any"  # a choice filter's empty label
