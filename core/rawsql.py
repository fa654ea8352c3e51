"""Model instances from hand-written SQL, for the few statements on the reviewers' hottest paths.

`Model.objects.raw()` works out on every call which column is which field and how each value converts:
about as much CPU as running the statement (docs/bench-next-task.md). Here that is worked out once per
model, and a statement selects `columns(Model, alias)` first, in field order, then any extra columns."""

from functools import cache
from typing import Any, TypeVar, cast

from django.db import connection
from django.db.models import Field, Model

M = TypeVar("M", bound=Model)


@cache
def _converters(model: type[Model]) -> tuple[tuple[Any, tuple[Any, ...]] | None, ...]:
    """Per concrete field, the converters the ORM would apply to its column (JSON text, SQLite's datetimes...)."""
    result: list[tuple[Any, tuple[Any, ...]] | None] = []
    for field in model._meta.concrete_fields:
        col = field.get_col(model._meta.db_table)
        functions = tuple(connection.ops.get_db_converters(col) + field.get_db_converters(connection))
        result.append((col, functions) if functions else None)
    return tuple(result)


@cache
def columns(model: type[Model], alias: str) -> str:
    # a concrete field always has a column; the stub's Optional is for the others
    return ", ".join(f"{alias}.{connection.ops.quote_name(cast(str, f.column))}" for f in model._meta.concrete_fields)


def fetch_models(model: type[Model], sql: str, params: Any, *, extra: tuple[str, ...] = ()) -> list[Any]:
    """Run `sql` (SELECT columns(model, alias), extra...) and build one instance per row; the values of the
    extra columns become attributes named by `extra`, unconverted (so the instances are typed Any: no static type
    has those attributes)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    converters, width = _converters(model), len(model._meta.concrete_fields)
    instances = []
    for row in rows:
        values = list(row[:width])
        for index, conversion in enumerate(converters):
            if conversion:
                col, functions = conversion
                for function in functions:
                    values[index] = function(values[index], col, connection)
        # Django reads field_names only when values lack a field; the stub does not allow its None
        instance = model.from_db(connection.alias, None, values)  # type: ignore[arg-type]
        for name, value in zip(extra, row[width:], strict=True):
            setattr(instance, name, value)
        instances.append(instance)
    return instances


def _written_fields(model: type[Model]) -> tuple[Field, ...]:
    return tuple(f for f in model._meta.concrete_fields if not f.primary_key)


@cache
def _insert_sql(model: type[Model]) -> tuple[str, tuple[Field, ...]]:
    fields = _written_fields(model)
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(cast(str, f.column)) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {quote(cast(str, model._meta.pk.column))}"
    )
    return sql, fields


def insert_model(instance: M) -> M:
    """Model.save() for a new row without the ORM's query building (the statement is written once per model):
    each field's own pre_save (auto_now_add) and conversion to the database, INSERT ... RETURNING the id. No
    signals are sent; use it only for models that have no receivers (the hot path's Assignment and Judgment)."""
    sql, fields = _insert_sql(type(instance))
    values = [f.get_db_prep_save(f.pre_save(instance, add=True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        instance.pk = cursor.fetchone()[0]
    instance._state.adding = False
    return instance


@cache
def _update_sql(model: type[Model]) -> tuple[str, tuple[Field, ...]]:
    fields = _written_fields(model)
    quote = connection.ops.quote_name
    sql = (
        f"UPDATE {quote(model._meta.db_table)} SET {', '.join(f'{quote(cast(str, f.column))} = %s' for f in fields)} "
        f"WHERE {quote(cast(str, model._meta.pk.column))} = %s"
    )
    return sql, fields


def update_model(instance: Model) -> None:
    """Model.save() of an existing row without the ORM's query building, as insert_model: every field written,
    no signals sent (for models that have no receivers)."""
    sql, fields = _update_sql(type(instance))
    values = [f.get_db_prep_save(f.pre_save(instance, add=False), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, instance.pk])


def column_name(model: type[Model], name: str) -> str:
    """The column of a model's field (unquoted)."""
    field = model._meta.get_field(name)
    if not isinstance(field, Field) or field.column is None:
        raise ValueError(f"{model.__name__}.{name} has no column")
    return field.column


class _Names:
    """`{Model}` formats as the model's quoted table name and `{Model.field}` as that field's quoted column."""

    __slots__ = ("_model",)

    def __init__(self, model: type[Model]) -> None:
        self._model = model

    def __format__(self, spec: str) -> str:
        return connection.ops.quote_name(self._model._meta.db_table)

    def __getattr__(self, name: str) -> str:
        return connection.ops.quote_name(column_name(self._model, name))


def sql_naming(template: str, **models: type[Model]) -> str:
    """`template` with `{Task}` and `{Task.campaign}` replaced by the table and column names the models declare,
    so that a renamed table or column, here or in another app, cannot leave a hand-written statement behind.
    Values (enum members included) stay `%s` parameters."""
    return template.format(**{name: _Names(model) for name, model in models.items()})
