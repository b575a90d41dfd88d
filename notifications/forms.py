"""Dashboard forms: the email kinds, and a new webhook endpoint."""

from __future__ import annotations

from django import forms
from django.conf import settings

from notifications.models import SUBSCRIBABLE, EventKind
from notifications.signing import UrlRefused, check_url

KIND_CHOICES = [(k, EventKind(k).label) for k in SUBSCRIBABLE]


class EmailKindsForm(forms.Form):
    email_kinds = forms.MultipleChoiceField(
        choices=KIND_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Email me on",
    )


class WebhookForm(forms.Form):
    url = forms.URLField(max_length=500, label="URL", assume_scheme="https")
    description = forms.CharField(max_length=100, required=False)
    kinds = forms.MultipleChoiceField(
        choices=KIND_CHOICES,
        initial=list(SUBSCRIBABLE),
        widget=forms.CheckboxSelectMultiple,
        label="Events",
    )

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            check_url(url, allow_private=settings.NOTIFICATIONS["ALLOW_PRIVATE_ADDRESSES"])
        except UrlRefused as exc:
            raise forms.ValidationError(str(exc)) from exc
        return url
