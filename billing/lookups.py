"""`field__in_ids=[...]`: the rows whose field is one of these ids (a chunk of a nightly
job, thousands of them).

On PostgreSQL `field = ANY(%s::bigint[])` with the ids as one array parameter: an index
condition, so each id is looked up in the index whatever the planner's statistics say
(`IN (SELECT unnest(...))` is a semi-join the planner may turn into a scan of the whole
table when its statistics are stale, e.g. while a run fills it), and one parameter to
adapt instead of thousands. Elsewhere a plain `IN (...)`. Registered in BillingConfig."""

from django.core.exceptions import EmptyResultSet
from django.db.models import Lookup

from billing.pg_arrays import pg_array


class InIds(Lookup):
    lookup_name = "in_ids"
    prepare_rhs = False

    def get_prep_lookup(self):
        return [int(pk) for pk in self.rhs]  # a generator is read once, here

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        if not self.rhs:
            raise EmptyResultSet
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s::bigint[])", [*params, pg_array(self.rhs)]
        return f"{lhs} IN ({', '.join(['%s'] * len(self.rhs))})", [*params, *self.rhs]
