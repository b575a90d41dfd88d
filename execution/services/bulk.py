"""One UPDATE for many rows with different values (the paper-trading step's hot path).

Django's ``bulk_update`` builds a ``CASE WHEN pk = … THEN …`` expression per field and row,
which costs more Python than the step itself for a few hundred deployments. On PostgreSQL
this writes ``UPDATE … FROM (VALUES …)`` with psycopg2's ``execute_values`` instead; elsewhere
it falls back to ``bulk_update``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.db import connection, models
from psycopg2.extras import execute_values


def bulk_update_rows(
    model: type[models.Model],
    objs: Sequence[models.Model],
    fields: Sequence[str],
    *,
    keys: Sequence[str] | None = None,
) -> set[tuple[Any, ...]]:
    """Write ``fields`` of every object in ``objs`` in one statement; the keys of rows written.

    Rows are matched by primary key, or by ``keys`` (fields that are unique together), so a
    caller that knows a row by its natural key writes it without reading it first; the set it
    gets back (key value tuples) says which objects had no row to update.
    """
    if not objs:
        return set()
    meta = model._meta
    key_fields = [meta.pk] if keys is None else [meta.get_field(k) for k in keys]
    if connection.vendor != "postgresql":
        return _update_each(model, objs, fields, key_fields)
    columns = [meta.get_field(f) for f in fields]
    casts = [c.db_type(connection).replace("serial", "integer") for c in [*key_fields, *columns]]
    template = "(" + ", ".join(f"%s::{cast}" for cast in casts) + ")"
    assignments = ", ".join(f'"{c.column}" = v."{c.column}"' for c in columns)
    names = ", ".join(f'"{c.column}"' for c in [*key_fields, *columns])
    match = " AND ".join(f't."{k.column}" = v."{k.column}"' for k in key_fields)
    returned = ", ".join(f't."{k.column}"' for k in key_fields)
    # Only identifiers from the model's metadata are formatted in; values travel as parameters.
    sql = (
        f'UPDATE "{meta.db_table}" AS t SET {assignments} '  # noqa: S608  # nosec B608 # see above
        f"FROM (VALUES %s) AS v({names}) WHERE {match} RETURNING {returned}"
    )
    rows = []
    for obj in objs:
        row = [getattr(obj, k.attname) for k in key_fields]
        for column in columns:
            value = column.get_prep_value(getattr(obj, column.attname))
            if isinstance(column, models.JSONField) and value is not None:
                value = json.dumps(value)
            row.append(value)
        rows.append(tuple(row))
    with connection.cursor() as cursor:
        written = execute_values(
            cursor.cursor, sql, rows, template=template, page_size=500, fetch=True
        )
    return {tuple(r) for r in written}


def _update_each(
    model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str], key_fields
) -> set[tuple[Any, ...]]:
    """Other databases (the SQLite test settings): one UPDATE per object."""
    written = set()
    for obj in objs:
        key = tuple(getattr(obj, k.attname) for k in key_fields)
        match = {k.attname: v for k, v in zip(key_fields, key, strict=True)}
        if model.objects.filter(**match).update(**{f: getattr(obj, f) for f in fields}):
            written.add(key)
    return written
