"""Index helpers. PatternIndex is no longer on a model (the unique number has its own
pattern index) but migration 0010 still builds it."""

from django.db import models


class PatternIndex(models.Index):
    """A btree index PostgreSQL can use for `LIKE 'prefix%'` whatever the database's
    collation (varchar_pattern_ops); a plain index elsewhere (SQLite has no operator
    classes)."""

    def __init__(self, *, fields, name):
        super().__init__(fields=fields, name=name, opclasses=["varchar_pattern_ops"] * len(fields))

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor == "postgresql":
            return super().create_sql(model, schema_editor, using=using, **kwargs)
        plain = models.Index(fields=self.fields, name=self.name)
        return plain.create_sql(model, schema_editor, using=using, **kwargs)

    def deconstruct(self):
        path, args, kwargs = super().deconstruct()
        kwargs.pop("opclasses", None)
        return path, args, kwargs
