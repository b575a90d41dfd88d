"""The dashboard's "link a broker account" form (the same rules as the API's serializer)."""

from __future__ import annotations

from django import forms

from brokers.models import BrokerAccount


class BrokerAccountForm(forms.Form):
    vendor = forms.ChoiceField(choices=BrokerAccount.Vendor.choices, label="Broker")
    label = forms.CharField(max_length=80, required=False, label="Label (optional)")
    api_key = forms.RegexField(
        regex=r"^[A-Za-z0-9]{4,64}$",
        max_length=64,
        label="API key",
        help_text="From your Kite Connect app at developers.kite.trade.",
        error_messages={"invalid": "Letters and digits only, as Kite shows it."},
    )
    api_secret = forms.RegexField(
        regex=r"^[A-Za-z0-9]{8,128}$",
        max_length=128,
        label="API secret",
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted; never shown again.",
        error_messages={"invalid": "Letters and digits only, as Kite shows it."},
    )
