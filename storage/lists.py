"""A list of values as one bound parameter: one statement text whatever the list's length.

SQLAlchemy sends ``column.in_([...])`` as ``IN ($1, $2, ..., $n)``: a different text for
every length. On PostgreSQL asyncpg prepares each text on each connection and keeps it
there (and so does the server's backend), so the statements of a batch whose size varies
(the inbox's, the web page's group commit) grow with every size seen, on every
connection: the 30-minute soak measured 2,117 -> 6,668 prepared statements a worker, still
rising. :func:`one_of` binds the whole list as one parameter instead:

- PostgreSQL: ``column = ANY($1)``, the list sent as an array;
- SQLite: ``column IN (SELECT value FROM json_each(?))``, the list sent as JSON text
  (SQLite has no arrays; ``json_each`` is built in since 3.38 and in most builds before;
  an ``IN`` over a subquery still uses the column's index).

The statements built with it are the same for both databases and may be built once, at
import, like any other.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import orjson
from sqlalchemy import String, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import NullType, TypeDecorator, TypeEngine


class Listed(TypeDecorator[Collection[Any]]):
    """A list of ``item`` values: an array on PostgreSQL, JSON text on SQLite."""

    impl = String
    cache_ok = True

    def __init__(self, item: TypeEngine[Any]) -> None:
        super().__init__()
        self.item = item

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(self.item))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: Collection[Any] | None, dialect: Dialect) -> Any:
        if value is None:
            raise ValueError("one_of needs a list of values, not None")
        if dialect.name == "postgresql":
            return list(value)
        return orjson.dumps(list(value)).decode()


class OneOf(ColumnElement[Any]):
    """``column`` is one of the values bound in ``values`` (a :class:`Listed` parameter)."""

    __visit_name__ = "one_of"
    inherit_cache = True
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("values", InternalTraversal.dp_clauseelement),
    ]
    # Not Boolean: SQLite (no boolean type) would have the condition rendered "= 1".
    type = NullType()

    def __init__(self, column: ColumnElement[Any], values: BindParameter[Any]) -> None:
        self.column = column
        self.values = values


def one_of(
    column: Any, values: Collection[Any] | None = None, *, name: str | None = None
) -> ColumnElement[Any]:
    """``column`` in a list bound as one parameter: ``values`` now, or ``name`` at execution.

    An empty list matches nothing, as an empty ``IN`` does.
    """
    if (values is None) == (name is None):
        raise TypeError("one_of takes either values or a parameter name")
    element: ColumnElement[Any] = column.expression  # a mapped attribute's column, or itself
    listed = Listed(element.type)
    if name is not None:
        return OneOf(element, bindparam(name, type_=listed))
    return OneOf(element, bindparam(None, list(values or ()), type_=listed))


@compiles(OneOf)
def _in_json_each(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"{column} IN (SELECT value FROM json_each({compiler.process(element.values, **kw)}))"


@compiles(OneOf, "postgresql")
def _any_array(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"{column} = ANY({compiler.process(element.values, **kw)})"
