"""Filter fields shared by the API's filtersets: strict ids, time-zone-safe date-times, and
multiple choices where an empty value means "not given" as it does for every other filter."""

from __future__ import annotations

from datetime import UTC, datetime

from django import forms
from django.core.exceptions import ValidationError
from django_filters import fields
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import extend_schema_field

MAX_ID = 2**63 - 1  # BigAutoField


class _IdField(forms.IntegerField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)  # SQLite raised OverflowError past it: a 500
        super().__init__(*args, **kwargs)


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(filters.NumberFilter):
    """An object id: a whole number in a primary key's range (``NumberFilter`` took ``1.5``)."""

    field_class = _IdField


class UTCDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, converted to UTC before it reaches the database.

    PostgreSQL refuses UTC offsets beyond ±15:59 (``+16:26`` was a 500), and a date at either
    end of the calendar can overflow when its offset is applied; both are a 400 instead.
    """

    def to_python(self, value) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValidationError("Date-time out of range.", code="invalid") from None


class UTCDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UTCDateTimeField


class _MultipleChoiceField(fields.MultipleChoiceField):
    def to_python(self, value) -> list[str]:
        return [v for v in super().to_python(value) if v != ""]


class MultipleChoiceFilter(filters.MultipleChoiceFilter):
    """``?status=A&status=B``; a bare ``?status=`` filters nothing instead of failing with 400.

    ``distinct`` is off: the field is a plain column, so ``OR``-ing its values cannot repeat a row,
    and ``SELECT DISTINCT`` would make every page of a large list sort the whole result.
    """

    field_class = _MultipleChoiceField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("distinct", False)
        super().__init__(*args, **kwargs)
