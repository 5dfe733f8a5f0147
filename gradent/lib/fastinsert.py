"""The one fast path for writing rows: `bulk_insert(objs)`, for the dispatcher's batches
(10,000 runs due at once).

`QuerySet.bulk_create` spends almost all of its time preparing values: it calls
`pre_save` and `get_db_prep_save` for every field of every row (310,000 calls for 10,000
runs) and, on SQLite, cuts the batch into INSERTs of 999 variables (313 statements). This
does the same work with the same field methods, but:

- a built-in field's prepared value is computed once per distinct value and reused (a
  batch's runs share their agent, workspace, status, empty output …). Fields of any other
  class (an encrypted field, a user's own field) are prepared for every row, as the ORM
  does, so a secret is never encrypted once and shared;
- the INSERTs hold as many rows as the database takes (SQLite's real variable limit);
- on PostgreSQL a batch of more than one row goes in as one array per column (`INSERT …
  SELECT * FROM UNNEST`, what bulk_create does there too), bound server-side: with Django's client-side binding
  psycopg parses a statement of 34,000 placeholders, or writes each array out as text, in
  Python (10,000 runs: 3.5 s of SQL before, 0.7 s now).

- a field whose `pre_save` only reads the attribute (Field's own, a DateTimeField that is
  not auto) is read directly, and auto_now / auto_now_add DateTimeFields take one instant
  for the batch (set on the objects as `pre_save` sets it; PostgreSQL's `now()` is one
  instant per transaction too), so it is prepared once, not 20,000 times.

Any other field's `pre_save` is called per row, the primary
keys come back with RETURNING and are set on the objects, and no signal is sent (like
`bulk_create`). Anything outside that shape (a primary key already set, a multi-table
child, a field with a placeholder or a database default of its own, a database that cannot return the keys) goes
to `bulk_create`. tests/lib/test_fastinsert.py checks, field by field, that the rows equal
what `bulk_create` writes, encrypted fields included.
"""

from __future__ import annotations

import decimal
import uuid
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta

from django.db import connections, models
from django.utils import timezone

# Field classes (exactly these, not subclasses) whose prepared value depends on the value
# alone, so equal values prepare to equal parameters.
CACHEABLE_FIELDS = frozenset(
    {
        models.AutoField,
        models.BigAutoField,
        models.BigIntegerField,
        models.BooleanField,
        models.CharField,
        models.DateField,
        models.DateTimeField,
        models.DecimalField,
        models.DurationField,
        models.FloatField,
        models.ForeignKey,
        models.IntegerField,
        models.OneToOneField,
        models.PositiveBigIntegerField,
        models.PositiveIntegerField,
        models.PositiveSmallIntegerField,
        models.SlugField,
        models.SmallIntegerField,
        models.TextField,
        models.UUIDField,
    }
)
# Value types that are immutable and hash by value (True and 1 hash alike: keyed by type too).
CACHEABLE_VALUES = (str, int, float, bool, decimal.Decimal, datetime, date, time, timedelta, uuid.UUID, type(None))
MAX_ROWS_PER_INSERT = 1000


def bulk_insert(objs: Sequence[models.Model], *, using: str = "default") -> None:
    """Insert `objs` (new instances of one model) as `bulk_create(objs)` would, faster."""
    if not objs:
        return
    model = type(objs[0])
    connection = connections[using]
    opts = model._meta
    fields = [f for f in opts.concrete_fields if not f.generated and f is not opts.pk]
    if (
        any(type(obj) is not model or obj.pk is not None for obj in objs)
        or opts.parents
        or not isinstance(opts.pk, models.AutoField)
        or not connection.features.can_return_rows_from_bulk_insert
        or any(hasattr(f, "get_placeholder") or f.has_db_default() for f in fields)
    ):
        model._default_manager.using(using).bulk_create(objs)
        return

    for obj in objs:  # what bulk_create does first: related objects saved, their ids taken
        obj._prepare_related_fields_for_save(operation_name="bulk_create")

    plan = _plan(fields)
    now = timezone.now()
    rows = [_row(obj, plan, now, connection) for obj in objs]
    table = connection.ops.quote_name(opts.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    pk_column = connection.ops.quote_name(opts.pk.column)
    # One row costs the same either way, and a plain VALUES is cheaper to plan and bind.
    unnest = _unnest_types(fields, connection) if len(objs) > 1 else None
    if unnest:
        # PostgreSQL: one array per column, as bulk_create does there (a statement of
        # 34,000 placeholders costs psycopg more to parse than the rows cost to write).
        types = ", ".join(f"(%s)::{db_type}[]" for db_type in unnest)  # the fields' own types
        source = f"SELECT * FROM UNNEST({types})"  # noqa: S608
        size = MAX_ROWS_PER_INSERT
    else:
        one_row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        size = max(1, min(MAX_ROWS_PER_INSERT, _max_params(connection) // len(fields)))
    pks: list = []
    with _cursor(connection, server_side=bool(unnest)) as cursor:
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            # Names quoted by the backend, values as parameters.
            if unnest:
                params = [list(column) for column in zip(*batch, strict=True)]
            else:
                source = "VALUES " + ", ".join([one_row] * len(batch))
                params = [value for row in batch for value in row]
            sql = f"INSERT INTO {table} ({columns}) {source} RETURNING {pk_column}"
            cursor.execute(sql, params)
            pks.extend(pk for (pk,) in cursor.fetchall())
    if len(pks) != len(objs):  # cannot happen: one RETURNING row per inserted row
        raise RuntimeError(f"inserted {len(objs)} rows of {opts.label} and got {len(pks)} keys back")
    for obj, pk in zip(objs, pks, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = using


# How a row's value of a field is had (what its pre_save does for a new row).
READ = "read"  # the attribute, as Field.pre_save reads it
NOW = "now"  # an auto_now / auto_now_add DateTimeField: the batch's instant
PRE_SAVE = "pre_save"  # anything else: the field's own pre_save, per row


def _plan(fields) -> list[tuple[str, models.Field, str, dict | None]]:
    """Per field: how its value is had, its attname, and the batch's cache of prepared
    values (None where the field's class is not known to prepare by value alone)."""
    plan = []
    for field in fields:
        own = getattr(field.pre_save, "__func__", None)  # None: replaced on the field itself
        if own is models.DateTimeField.pre_save and (field.auto_now or field.auto_now_add):
            how = NOW
        elif own is models.Field.pre_save or own is models.DateTimeField.pre_save:
            how = READ  # DateTimeField.pre_save only reads the attribute when not auto
        else:
            how = PRE_SAVE
        plan.append((how, field, field.attname, {} if type(field) in CACHEABLE_FIELDS else None))
    return plan


def _row(obj: models.Model, plan, now, connection) -> list:
    """One row's parameters: what `pre_save` gives per field (one instant for the whole
    batch in auto_now fields, set on the object as pre_save sets it, as PostgreSQL's
    now() is one instant per transaction), prepared from the batch's cache where the
    field and the value allow it."""
    row = []
    for how, field, attname, cache in plan:
        if how is READ:
            value = getattr(obj, attname)
        elif how is NOW:
            value = now
            setattr(obj, attname, now)
        else:
            value = field.pre_save(obj, add=True)
        if cache is None or not isinstance(value, CACHEABLE_VALUES):
            row.append(field.get_db_prep_save(value, connection=connection))
            continue
        key = (type(value), value)
        try:
            row.append(cache[key])
        except KeyError:
            cache[key] = prepared = field.get_db_prep_save(value, connection=connection)
            row.append(prepared)
    return row


@contextmanager
def _cursor(connection, *, server_side: bool):
    """Django's cursor; on PostgreSQL a server-side binding one for the UNNEST arrays
    (Django's cursors bind client-side: psycopg would write every array out as text in
    Python), on the same connection and transaction, wrapped as Django wraps its own
    (its error classes, query logging)."""
    if not server_side:
        with connection.cursor() as cursor:
            yield cursor
        return
    import psycopg

    connection.ensure_connection()
    raw = psycopg.Cursor(connection.connection)
    wrapped = connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
    with wrapped as cursor:
        yield cursor


def _unnest_types(fields, connection) -> list[str] | None:
    """The columns' array element types when the rows can go in as UNNEST arrays (the
    conditions bulk_create checks on PostgreSQL), else None."""
    if connection.vendor != "postgresql":
        return None
    for field in fields:
        if (field.target_field if field.is_relation else field).get_internal_type() not in connection.data_types:
            return None
    # Without the type's parameters, so nothing is truncated (varchar[], not varchar(50)[]).
    return [field.db_type(connection).split("(")[0] for field in fields]


def _max_params(connection) -> int:
    if connection.vendor == "sqlite":
        import sqlite3

        connection.ensure_connection()
        return connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    if connection.vendor == "postgresql":
        return 65535
    return connection.features.max_query_params or 999
