"""The one way a dashboard form shows a refusal: each field error next to the field it names.

Services refuse with a ``DomainError`` whose ``fields`` has the API's shape,
``{field: [messages]}`` (nested for a JSON field edited as several form fields, such as a
strategy's ``params``), and the API's request serializers report errors in the same shape. A
form maps either onto its own fields here, so the dashboard and the API tell the same story.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from django import forms

from algosaas.errors import DomainError

NON_FIELD_KEYS = frozenset({"non_field_errors", "__all__"})


def flatten_messages(messages: Any) -> Iterator[str]:
    """Every message of a (possibly nested) error value as text; nested keys prefix theirs."""
    if isinstance(messages, str):
        yield messages
    elif isinstance(messages, Mapping):
        for key, value in messages.items():
            for text in flatten_messages(value):
                yield f"{key}: {text}"
    elif isinstance(messages, Iterable):
        for value in messages:
            yield from flatten_messages(value)
    else:
        yield str(messages)


class ServiceForm(forms.Form):
    """A form whose input goes to a service and whose refusals come back onto its fields.

    ``field_map`` renames an error's key to the form field that shows it where the two differ;
    ``field_labels`` names a key in a form-level message when no field shows it (the default is
    the key, humanised); ``nested_fields`` maps a key whose value is ``{sub_key: messages}`` to
    the prefix of the form fields that show each sub-key and the label (``{}`` is the sub-key)
    used when none does.
    """

    field_map: dict[str, str] = {}
    field_labels: dict[str, str] = {}
    nested_fields: dict[str, tuple[str, str]] = {}

    def place_errors(self, errors: Mapping[str, Any]) -> bool:
        """Put each of ``errors`` next to its field; return True when every one found a field."""
        inline = True
        for name, messages in errors.items():
            if name in self.nested_fields and isinstance(messages, Mapping):
                prefix, label = self.nested_fields[name]
                for key, key_messages in messages.items():
                    inline &= self._place(f"{prefix}{key}", key_messages, label.format(key))
            else:
                label = self.field_labels.get(name) or name.replace("_", " ").capitalize()
                inline &= self._place(self.field_map.get(name, name), messages, label)
        return inline

    def add_domain_error(self, error: DomainError) -> bool:
        """Show a service's refusal on the form; True when its field errors tell the whole story.

        That is an input refusal (HTTP 400) naming fields. Any other refusal also shows its
        message at the top: a conflict with the object's state (409) or a cap (403) says *why*,
        its fields only say *where*.
        """
        inline = bool(error.fields) and error.status_code == 400
        if not inline:
            self.add_error(None, error.message)
        return self.place_errors(error.fields) and inline

    def _place(self, name: str, messages: Any, label: str) -> bool:
        texts = list(flatten_messages(messages))
        if name in self.fields:
            self.add_error(name, texts)
            return True
        if name in NON_FIELD_KEYS:
            self.add_error(None, texts)
        else:
            self.add_error(None, [f"{label}: {text}" for text in texts])
        return False
