"""Each person's e-mail preferences, linked from their account page (core's, which imports no app)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from notifications.selectors import notification_preferences
from notifications.services import notification_preferences_set


class PreferencesForm(forms.Form):
    """One checkbox per registered kind, built at request time: apps register their kinds in ready()."""

    def __init__(self, *args, choices: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["enabled"] = forms.MultipleChoiceField(
            choices=choices, required=False, widget=forms.CheckboxSelectMultiple, label="E-mail me when"
        )


@login_required
def account_notifications(request):
    current = notification_preferences(user=request.user)
    choices = [(kind.name, kind.label) for kind, _ in current]
    initial = {"enabled": [kind.name for kind, on in current if on]}
    form = PreferencesForm(request.POST or None, choices=choices, initial=initial)
    if request.method == "POST" and form.is_valid():
        notification_preferences_set(user=request.user, enabled=set(form.cleaned_data["enabled"]))
        messages.success(request, "Notification preferences saved.")
        return redirect("account-notifications")
    context = {"form": form, "kinds": [kind for kind, _ in current], "email": request.user.email}
    return render(request, "notifications/preferences.html", context)
