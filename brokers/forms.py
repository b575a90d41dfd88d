"""The dashboard's "link a broker account" forms (the same rules as the API's serializers)."""

from __future__ import annotations

from django import forms

from brokers.models import BrokerAccount


class BrokerAccountForm(forms.Form):
    vendor = forms.ChoiceField(
        choices=[(BrokerAccount.Vendor.KITE.value, BrokerAccount.Vendor.KITE.label)],
        label="Broker",
    )
    label = forms.CharField(max_length=80, required=False, label="Label (optional)")
    api_key = forms.RegexField(
        regex=r"^[A-Za-z0-9]{4,64}$",
        max_length=64,
        label="API key",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),  # not a login name
        help_text="From your Kite Connect app at developers.kite.trade.",
        error_messages={"invalid": "Letters and digits only, as Kite shows it."},
    )
    api_secret = forms.RegexField(
        regex=r"^[A-Za-z0-9]{8,128}$",
        max_length=128,
        label="API secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted; never shown again.",
        error_messages={"invalid": "Letters and digits only, as Kite shows it."},
    )


# A JWT: three base64url parts (Dhan's access tokens are a few hundred characters).
JWT_SHAPE = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"


class DhanTokenForm(forms.Form):
    access_token = forms.RegexField(
        regex=JWT_SHAPE,
        max_length=4096,
        label="Access token",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Generate it on web.dhan.co (Profile → DhanHQ Trading APIs). Stored encrypted.",
        error_messages={"invalid": "Paste the whole token Dhan shows (three parts with dots)."},
    )


class DhanAccountForm(DhanTokenForm):
    label = forms.CharField(max_length=80, required=False, label="Label (optional)")
    client_id = forms.RegexField(
        regex=r"^[0-9]{4,20}$",
        max_length=20,
        label="Dhan client id",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),  # not a login name
        error_messages={"invalid": "Digits only, as Dhan shows it."},
    )
    field_order = ["label", "client_id", "access_token"]

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("auto_id", "dhan_%s")  # its ids must not clash with the Kite form's
        super().__init__(*args, **kwargs)
