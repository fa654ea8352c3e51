"""Browser forms for datasets; each one's clean data goes straight into a service."""

from django import forms

# /datasets/new/ is the creation page, so a dataset of that name could not be opened in the browser
RESERVED_NAMES = {"new"}


class DatasetForm(forms.Form):
    name = forms.SlugField(
        max_length=100, help_text="Letters, digits, '-' and '_': it appears in URLs and in the CLI's commands."
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if name in RESERVED_NAMES:
            raise forms.ValidationError(f"'{name}' is reserved for the page that creates datasets; choose another.")
        return name
