"""One UPDATE for many rows with different values (the paper-trading step's hot path).

Django's ``bulk_update`` builds a ``CASE WHEN pk = … THEN …`` expression per field and row,
which costs more Python than the step itself for a few hundred deployments. On PostgreSQL
this writes ``UPDATE … FROM (VALUES …)`` with psycopg2's ``execute_values`` instead; elsewhere
it falls back to ``bulk_update``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from django.db import connection, models
from psycopg2.extras import execute_values


def bulk_update_rows(
    model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str]
) -> None:
    """Write ``fields`` of every object in ``objs`` (matched by primary key) in one statement."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, list(fields))
        return
    meta = model._meta
    pk = meta.pk
    columns = [meta.get_field(f) for f in fields]
    casts = [c.db_type(connection) for c in columns]
    template = "(%s::" + pk.db_type(connection).replace("serial", "integer") + ", "
    template += ", ".join(f"%s::{cast}" for cast in casts) + ")"
    assignments = ", ".join(f'"{c.column}" = v."{c.column}"' for c in columns)
    names = ", ".join(f'"{c.column}"' for c in [pk, *columns])
    # Only identifiers from the model's metadata are formatted in; values travel as parameters.
    sql = (
        f'UPDATE "{meta.db_table}" AS t SET {assignments} '  # noqa: S608  # nosec B608 # see above
        f'FROM (VALUES %s) AS v({names}) WHERE t."{pk.column}" = v."{pk.column}"'
    )
    rows = []
    for obj in objs:
        row = [obj.pk]
        for column in columns:
            value = column.get_prep_value(getattr(obj, column.attname))
            if isinstance(column, models.JSONField) and value is not None:
                value = json.dumps(value)
            row.append(value)
        rows.append(tuple(row))
    with connection.cursor() as cursor:
        execute_values(cursor.cursor, sql, rows, template=template, page_size=500)
