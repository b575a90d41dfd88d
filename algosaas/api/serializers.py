"""Serializer building blocks shared by the apps: the strictly typed base serializers every
API serializer derives from, and the planned read-only representation."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.utils.datastructures import MultiValueDict
from rest_framework import fields, relations, serializers
from rest_framework.exceptions import ValidationError

# What each kind of field takes from a JSON body: the JSON type its schema documents, plus the
# Python type it produces (a form or a service passes that straight through, already parsed).
# Order matters: a subclass before its base (a DecimalField is no IntegerField, but a
# MultipleChoiceField is a ChoiceField).
_JSON_TYPES: tuple[tuple[type[fields.Field], tuple[type, ...], str], ...] = (
    (fields.BooleanField, (bool,), "Must be true or false."),
    (fields.IntegerField, (int,), "Must be an integer."),
    (fields.FloatField, (int, float), "Must be a number."),
    (fields.DecimalField, (str, Decimal), 'Must be a decimal number in a string, such as "12.50".'),
    (fields.MultipleChoiceField, (list,), "Must be a list."),
    (fields.ChoiceField, (str,), "Must be a string."),
    (fields.DateTimeField, (str, datetime.datetime), "Must be a date-time in a string."),
    (fields.DateField, (str, datetime.date), "Must be a date in a string."),
    (fields.CharField, (str,), "Must be a string."),
    (relations.PrimaryKeyRelatedField, (int,), "Must be an integer id."),
)


def json_type_error(field: fields.Field, value: Any) -> str | None:
    """Why ``value`` is not of the JSON type ``field`` documents, or ``None`` when it is.

    ``null`` is the field's own business (``allow_null``); ``true`` is no integer although
    Python says it is one.
    """
    if value is None:
        return None
    for kind, types, message in _JSON_TYPES:
        if isinstance(field, kind):
            if isinstance(value, bool) and bool not in types:
                return message
            return None if isinstance(value, types) else message
    return None


class JSONTypedInput:
    """Refuse a JSON body's value whose type differs from the one the schema documents.

    DRF coerces: ``{"name": 84285976}`` was stored as ``"84285976"``, ``"5"`` and ``5.0`` as
    the integer 5, ``"true"`` as a boolean. A JSON client sends typed values, so a mistyped one
    is a bug on its side and gets a 400 naming the field. Form bodies (the browsable API, a
    multipart upload) arrive as a ``QueryDict`` of strings and keep DRF's parsing.
    """

    def to_internal_value(self, data: Any) -> Any:
        errors = {}
        if isinstance(data, Mapping) and not isinstance(data, MultiValueDict):
            for field in self._writable_fields:  # type: ignore[attr-defined]
                if field.field_name in data:
                    message = json_type_error(field, data[field.field_name])
                    if message:
                        errors[field.field_name] = [message]
        try:
            value = super().to_internal_value(data)  # type: ignore[misc]
        except ValidationError as exc:
            if errors and isinstance(exc.detail, dict):
                raise ValidationError({**exc.detail, **errors}) from None
            raise
        if errors:
            raise ValidationError(errors)
        return value


def merge_errors(errors: Mapping[str, Any], more: Mapping[str, Any]) -> dict[str, Any]:
    """``errors`` with ``more`` added: a field's messages are appended to those it has."""
    merged = dict(errors)
    for name, messages in more.items():
        extra = [messages] if isinstance(messages, str) else messages
        if name in merged and isinstance(merged[name], list) and isinstance(extra, list):
            merged[name] = [*merged[name], *extra]
        else:
            merged[name] = extra
    return merged


class CrossFieldChecks:
    """Run the cross-field rules whenever the fields they involve are valid.

    DRF calls ``validate()`` only once every field is valid, so a request with one bad field
    and a cross-field breach (end before start) learnt of the second only after fixing the
    first. A serializer with this mixin states its rules once, in ``cross_field_errors(attrs)``,
    which sees the valid fields: all of them when every field is, else those that parsed
    (a rule must skip itself when a field it reads is absent). Every error comes back at once.
    """

    # False when a service applies the same rules to a valid request (and answers for them).
    cross_checks_when_valid = True

    def cross_field_errors(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """``{field: [messages]}`` for each rule broken by ``attrs`` (only valid fields)."""
        return {}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)  # type: ignore[misc]
        if not self.cross_checks_when_valid:
            return attrs
        errors = self.cross_field_errors(attrs)
        if errors:
            raise ValidationError(errors)
        return attrs

    def to_internal_value(self, data: Any) -> Any:
        try:
            return super().to_internal_value(data)  # type: ignore[misc]
        except ValidationError as exc:
            if not isinstance(exc.detail, Mapping) or not isinstance(data, Mapping):
                raise
            more = self.cross_field_errors(self._valid_fields(data, exc.detail))
            if not more:
                raise
            raise ValidationError(merge_errors(exc.detail, more)) from None

    def _valid_fields(self, data: Mapping[str, Any], errors: Mapping[str, Any]) -> dict[str, Any]:
        """The fields of ``data`` that parse, each as ``to_internal_value`` would give it."""
        valid: dict[str, Any] = {}
        for field in self._writable_fields:  # type: ignore[attr-defined]
            if field.field_name in errors:
                continue
            try:
                value = field.run_validation(field.get_value(data))
            except (ValidationError, DjangoValidationError, fields.SkipField):
                continue
            self.set_value(valid, field.source_attrs, value)  # type: ignore[attr-defined]
        return valid


class Serializer(JSONTypedInput, serializers.Serializer):
    """The base of every API serializer that is not a model serializer."""


class ModelSerializer(JSONTypedInput, serializers.ModelSerializer):
    """The base of every API model serializer."""


Getter = Callable[[Any], Any]
Step = tuple[str, Getter, Callable[[Any], Any]]


def _identity(value: Any) -> Any:
    return value


def _path_getter(attrs: list[str]) -> Getter:
    def get(instance: Any) -> Any:
        for attr in attrs:
            if instance is None:
                return None
            instance = getattr(instance, attr)
        return instance

    return get


def _column_path(model: type[models.Model], source_attrs: list[str]) -> list[str]:
    """The attribute path of ``source_attrs``, checked hop by hop to be model columns.

    A property or a method would need DRF's callable handling; refusing them here keeps the
    planned path exactly equal to DRF's.
    """
    path = []
    for i, attr in enumerate(source_attrs):
        field = next((f for f in model._meta.concrete_fields if attr in (f.name, f.attname)), None)
        if field is None:
            raise TypeError(f"{model.__name__}.{attr} is not a column")
        path.append(attr)
        if i < len(source_attrs) - 1:
            if not field.is_relation:
                raise TypeError(f"{model.__name__}.{attr} is not a relation")
            model = field.related_model
    return path


class PlannedRepresentation:
    """Render read-only rows through a plan built once per class, not DRF's per-field walk.

    A page of 25 orders spent most of its time in DRF's generic machinery: building the fields
    again for every response, then ``get_attribute`` with its exception handling for every
    field of every row. The plan keeps each field's own ``to_representation`` (decimal places,
    time zone, choices), so the output is the same; a test compares both on random rows.
    Supports model columns, dotted paths through foreign keys, and primary-key related fields.
    """

    def _representation_plan(self) -> list[Step]:
        cls = type(self)
        plan = cls.__dict__.get("_plan")
        if plan is None:
            prototype = cls()
            model = prototype.Meta.model
            plan = []
            for field in prototype._readable_fields:
                if isinstance(field, relations.RelatedField):
                    if not field.use_pk_only_optimization() or len(field.source_attrs) != 1:
                        raise TypeError(f"{cls.__name__}.{field.field_name}: not a plain key")
                    attname = model._meta.get_field(field.source_attrs[0]).attname
                    plan.append((field.field_name, _path_getter([attname]), _identity))
                    continue
                path = _column_path(model, field.source_attrs)
                plan.append((field.field_name, _path_getter(path), field.to_representation))
            cls._plan = plan
        return plan

    def to_representation(self, instance: Any) -> dict[str, Any]:
        out = {}
        for name, get, render in self._representation_plan():
            value = get(instance)
            out[name] = None if value is None else render(value)
        return out
