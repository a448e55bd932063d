"""Fast inserts for the nightly jobs: COPY on PostgreSQL (tens of thousands of rows a
night, without building a model instance per row), bulk_create elsewhere (SQLite).

Rows are dicts of column values ready for the database (Decimal, date, aware datetime,
dict for JSON columns, *_id for foreign keys, <name>_currency for money columns)."""

import json

from django.db import connections, router
from django.db.models import JSONField, Model


def bulk_insert_rows(*, model: type[Model], rows: list[dict]) -> list[int]:
    """Inserts the rows in order and returns their new primary keys, in the same order."""
    if not rows:
        return []
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        created = model.objects.bulk_create([model(**row) for row in rows], batch_size=1000)
        return [obj.pk for obj in created]
    table = model._meta.db_table
    quote = connection.ops.quote_name
    columns = ["id", *rows[0]]
    # JSON columns are dumped once per distinct value (a customer's bill-to is one dict
    # shared by all its invoices), by object identity.
    fields = {f.attname: f for f in model._meta.concrete_fields}
    json_columns = [i for i, name in enumerate(rows[0]) if isinstance(fields[name], JSONField)]
    dumped: dict[int, str] = {}
    with connection.cursor() as cursor:
        # Ids drawn from the table's own sequence first, so COPY can write them.
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, len(rows)],
        )
        ids = [row[0] for row in cursor.fetchall()]
        with cursor.cursor.copy(
            f"COPY {quote(table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
        ) as copy:
            for pk, row in zip(ids, rows, strict=True):
                values = [pk, *row.values()]
                for i in json_columns:
                    value = values[i + 1]
                    if value is not None:
                        key = id(value)
                        if key not in dumped:
                            dumped[key] = json.dumps(value)
                        values[i + 1] = dumped[key]
                copy.write_row(values)
    return ids
