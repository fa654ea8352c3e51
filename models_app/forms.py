"""Browser forms for the registry; each one's clean data goes straight into a service."""

import json
import math

from django import forms


class JSONObjectField(forms.CharField):
    """A JSON object typed into a textarea; an empty box is {}. Errors say where the JSON breaks."""

    widget = forms.Textarea(attrs={"rows": 4, "spellcheck": "false"})

    def __init__(self, *, numbers_only: bool = False, **kwargs):
        self.numbers_only = numbers_only
        super().__init__(required=False, **kwargs)

    def clean(self, value: str) -> dict:
        text = super().clean(value).strip()
        if not text:
            return {}
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.", code="invalid_json"
            ) from None
        if not isinstance(parsed, dict):
            raise forms.ValidationError(
                f'Must be a JSON object such as {{"name": value}}, not {type(parsed).__name__}.', code="not_object"
            )
        if self.numbers_only:
            # metrics are compared and charted: a string or NaN there would show as a blank
            wrong = [k for k, v in parsed.items() if not _is_number(v)]
            if wrong:
                raise forms.ValidationError(
                    f"Every metric must be a finite number; not: {', '.join(wrong)}.", code="not_number"
                )
        return parsed


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class RegisteredModelForm(forms.Form):
    name = forms.SlugField(max_length=100, help_text="Letters, digits, '-' and '_': it appears in URLs.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class ModelVersionForm(forms.Form):
    version = forms.CharField(max_length=100, help_text="e.g. 3 or 2026-12-06; no '/'.")
    git_sha = forms.CharField(max_length=64, required=False, label="Git SHA")
    artifact_uri = forms.CharField(max_length=1000, required=False, label="Artifact URI")
    params = JSONObjectField(help_text='A JSON object, e.g. {"lr": 0.001, "layers": 12}.')
    metrics = JSONObjectField(numbers_only=True, help_text='A JSON object of numbers, e.g. {"accuracy": 0.91}.')

    def clean_version(self) -> str:
        version = self.cleaned_data["version"].strip()
        if "/" in version or not version:
            raise forms.ValidationError("A version must be non-empty and contain no '/'.")
        return version
