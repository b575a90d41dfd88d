"""The one mapping of a refusal's field errors onto a dashboard form (``ServiceForm``)."""

from django import forms

from algosaas.errors import Conflict, DomainError, LimitExceeded
from algosaas.forms import ServiceForm, flatten_messages


class TicketForm(ServiceForm):
    field_map = {"charges": "apply_charges"}
    field_labels = {"risk_limits": "Risk limits (per order)"}
    nested_fields = {"params": ("param_", "Parameter {}")}

    quantity = forms.IntegerField(required=False)
    apply_charges = forms.BooleanField(required=False)
    param_fast = forms.IntegerField(required=False)


def bound() -> TicketForm:
    form = TicketForm({})
    assert form.is_valid()
    return form


def test_an_input_refusal_naming_form_fields_is_told_by_them_alone():
    form = bound()
    error = DomainError(
        "Quantity too large.",
        fields={"quantity": ["Too large."], "charges": ["Unknown."], "params": {"fast": ["> 1"]}},
    )
    assert form.add_domain_error(error) is True
    assert form.errors == {
        "quantity": ["Too large."],
        "apply_charges": ["Unknown."],
        "param_fast": ["> 1"],
    }


def test_keys_without_a_field_go_to_the_top_named_by_their_label():
    form = bound()
    error = DomainError(
        "Bad.",
        fields={
            "risk_limits": ["Too loose."],
            "feed": {"source": ["Unknown."]},
            "params": {"slow": ["Required."]},
            "non_field_errors": ["Start after end."],
        },
    )
    assert form.add_domain_error(error) is False
    assert form.non_field_errors() == [
        "Risk limits (per order): Too loose.",
        "Feed: source: Unknown.",
        "Parameter slow: Required.",
        "Start after end.",
    ]


def test_a_conflict_or_a_cap_keeps_its_message_beside_the_fields():
    for error in (
        Conflict("Stop it first.", fields={"quantity": ["Cannot change while running."]}),
        LimitExceeded("Too many.", fields={"quantity": ["Over the cap."]}),
    ):
        form = bound()
        assert form.add_domain_error(error) is False
        assert form.non_field_errors() == [error.message]
        assert form.errors["quantity"] == [error.fields["quantity"][0]]


def test_a_refusal_without_fields_is_one_message_at_the_top():
    form = bound()
    assert form.add_domain_error(DomainError("No bars stored.")) is False
    assert form.non_field_errors() == ["No bars stored."]
    assert set(form.errors) == {"__all__"}


def test_flatten_messages_prefixes_nested_keys_and_stringifies_the_rest():
    assert list(flatten_messages({"a": ["x", {"b": "y"}], "c": 3})) == ["a: x", "a: b: y", "c: 3"]
