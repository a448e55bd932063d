"""PostgreSQL array literals ('{1,2,NULL}') built in Python, passed as one text parameter
and cast in SQL (`%s::bigint[]`, `%s::text[]`): a string join instead of the driver
adapting each element, most of the cost of a 2,000-element array parameter."""


def pg_array(values) -> str:
    """For numbers and dates (their text has no character an array literal quotes)."""
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
