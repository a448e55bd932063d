"""Fast inserts for the nightly jobs: COPY on PostgreSQL (tens of thousands of rows a
night, without building a model instance per row), bulk_create elsewhere (SQLite).

Rows are dicts of column values ready for the database (Decimal, date, aware datetime,
dict for JSON columns, *_id for foreign keys, <name>_currency for money columns)."""

import json

from django.db import connection, connections, router
from django.db.models import JSONField, Model
from django.db.models.expressions import RawSQL


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


def pg_array(values) -> str:
    """A PostgreSQL array literal ('{1,2,NULL}') for numbers and dates, to pass as one
    text parameter cast in SQL (`%s::bigint[]`): a join in C instead of the driver
    adapting each element (most of the cost of a 2,000-element array parameter)."""
    return "{" + ",".join("NULL" if v is None else str(v) for v in values) + "}"


def pg_text_array(values) -> str:
    """A PostgreSQL text array literal, every element quoted (backslash and double quote
    escaped), None as NULL: for `%s::text[]`, see pg_array."""
    return (
        "{"
        + ",".join(
            "NULL" if v is None else '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
            for v in values
        )
        + "}"
    )


def ids_in(ids) -> "list[int] | RawSQL":
    """The right-hand side of `pk__in=` for a chunk of ids. On PostgreSQL one array
    parameter, `IN (SELECT unnest(ARRAY[...]))`: 2,000 ids are one value, not 2,000
    placeholders that Django prepares and the driver parses one by one. Elsewhere the list
    itself. Same rows either way."""
    ids = list(ids)
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", [pg_array(ids)])
    return ids
