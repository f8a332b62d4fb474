"""Engine and session factory for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import socket
import sqlite3
import urllib.parse
from collections.abc import AsyncGenerator, Sequence
from contextvars import ContextVar
from typing import Any, cast

import aiosqlite
import asyncpg  # type: ignore[import-untyped]
import orjson
from sqlalchemy import Integer, event, func, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select
from sqlalchemy.util import await_only


def json_text(value: Any) -> str:
    """A value as the JSON text JSON columns store (the engines' serializer)."""
    return orjson.dumps(value).decode()


#: PostgreSQL connections each process keeps open, by default (see :func:`create_engine`).
POOL_SIZE = 20
#: Prepared statements kept per PostgreSQL connection (see :func:`create_engine`).
PREPARED_STATEMENTS = 2000
#: How long a SQLite statement waits for another connection's write lock (milliseconds).
BUSY_TIMEOUT_MS = 30_000
#: SQLite connections a worker keeps open (and as many more it may open for a burst).
SQLITE_POOL_SIZE = 16
# SQLite's result code for a lock held by another connection (extended codes keep it in
# the low byte): https://www.sqlite.org/rescode.html#busy
_SQLITE_BUSY = 5

_ON_LOOP: ContextVar[bool] = ContextVar("engage_sqlite_on_loop", default=False)


def statements_on_loop() -> None:
    """Run this task's SQLite statements on the event loop's thread from now on.

    For a task whose statements are all short and indexed (the web answers' group
    commit): each is a few microseconds in SQLite, where handing it to aiosqlite's thread
    and waking the loop again costs tens to hundreds of microseconds of CPU and more of
    waiting, which the one writer of a SQLite store spends holding the write lock. A
    statement that would wait for another connection's lock goes to aiosqlite's thread
    after all and waits there, so the loop never waits for a lock. Nothing changes on
    PostgreSQL. A task's context is its own: other tasks are not affected.
    """
    _ON_LOOP.set(True)


def create_engine(url: str, *, pool_size: int = POOL_SIZE, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys and a busy timeout.

    On PostgreSQL the pool keeps ``pool_size`` connections open and opens no more
    (``ENGAGE_DATABASE_POOL_SIZE``). JSON columns use orjson: reports read hundreds of
    thousands of them.
    """
    kwargs.setdefault("json_serializer", json_text)
    kwargs.setdefault("json_deserializer", orjson.loads)
    # A statement's error names the statement but not its values: they are replies'
    # texts and pseudonyms, and errors reach logs and the inbox's error column.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        _create_private_file(url)
        kwargs.setdefault("module", OneTripSQLite(aiosqlite, sqlite3))
        # Connections enough for a busy worker's concurrent requests, kept: an overflow
        # connection is closed when given back, and the next burst opens it again (a
        # thread started, the pragmas and functions set up) for every few requests.
        kwargs.setdefault("pool_size", SQLITE_POOL_SIZE)
        kwargs.setdefault("max_overflow", SQLITE_POOL_SIZE // 2)
        # check_same_thread off: statements marked short (statements_on_loop) run on the
        # event loop's thread, one at a time as ever (see _OneTripCursor).
        engine = create_async_engine(
            url,
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            **kwargs,
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # A connection the pool opens for a task whose statements run on the loop is
            # set up on aiosqlite's thread all the same: run on the loop, the busy timeout
            # set here would stay in force while the connection believes it waits for no
            # lock, and its next statement on the loop would hold the loop for up to
            # BUSY_TIMEOUT_MS while the holder of the lock waits for the loop.
            on_loop = _ON_LOOP.set(False)
            try:
                _set_pragmas(dbapi_connection)
            finally:
                _ON_LOOP.reset(on_loop)

        return engine
    # Every connection a worker needs at its busiest is kept open: none is opened for a
    # burst and closed after it. A pool with overflow closes whichever connection comes
    # back while the pool is full, so under bursts its connections were all reopened
    # within half a minute (10 kept + 10 overflow: in the soak every pooled connection
    # was under 30 s old), and each new asyncpg connection introspects types and
    # prepares its statements again. A task that finds every connection busy waits for
    # one (up to ``pool_timeout``, 30 s) rather than opening another.
    kwargs.setdefault("pool_size", pool_size)
    kwargs.setdefault("max_overflow", 0)
    # Each statement the cache lacks is prepared again on the server (a round trip and a
    # parse), and a worker runs a few hundred texts (its batches have one text whatever
    # their size: storage/lists.py, SequenceNumberingSession); asyncpg's default keeps 100.
    kwargs.setdefault("connect_args", {}).setdefault(
        "prepared_statement_cache_size", PREPARED_STATEMENTS
    )
    engine = create_async_engine(url, pool_pre_ping=True, **kwargs)
    event.listen(engine.sync_engine, "do_connect", _connect_naming_failures)
    return engine


class ConnectFailed(AsyncAdapt_asyncpg_dbapi.OperationalError):
    """No connection to the PostgreSQL server could be made; the message says where and
    why ("cannot connect to db.example:5432 (connection refused)"), never the password."""

    def __init__(self, message: str, orig: OSError) -> None:
        super().__init__(message, orig)  # type: ignore[no-untyped-call]


def _connect_naming_failures(
    dialect: Any, _record: Any, cargs: Sequence[Any], cparams: dict[str, Any]
) -> Any:
    """Make a PostgreSQL connection; a failure to reach the server is a database error.

    asyncpg raises the socket's own error (refused, unknown host, timed out) and
    SQLAlchemy passes it on as it is, unlike every other failure of the driver, which it
    wraps as a :class:`~sqlalchemy.exc.DBAPIError`. Raised as :class:`ConnectFailed`
    (the driver's ``OperationalError``), it arrives wrapped like the rest, with the
    socket's error as its cause.
    """
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as error:
        message = f"cannot connect to {_server(cparams)} ({_connect_problem(error)})"
        raise ConnectFailed(message, error) from error


def _server(cparams: dict[str, Any]) -> str:
    """Where a connection was going, as host:port (no user, password or database)."""
    host = cparams.get("host")
    if not host:
        return "the local PostgreSQL server"
    shown = f"[{host}]" if ":" in str(host) else str(host)
    return f"{shown}:{cparams.get('port') or 5432}"


def _connect_problem(error: OSError) -> str:
    if isinstance(error, socket.gaierror):
        return "unknown host" if error.errno == socket.EAI_NONAME else "host name lookup failed"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, TimeoutError):
        return "no answer in time"
    words = error.strerror or str(error) or type(error).__name__
    return words[:1].lower() + words[1:]


async def checkpoint(engine: AsyncEngine) -> None:
    """On SQLite, fold the write-ahead log into the database file and empty it, so that
    deleted rows (an erasure) leave no copy in the log; as far as readers allow (one
    reading at that moment keeps its pages, and the next checkpoint takes them).
    Nothing on PostgreSQL."""
    if not is_sqlite(engine):
        return
    async with engine.connect() as connection:
        await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _set_pragmas(dbapi_connection: Any) -> None:
    """WAL, durability, foreign keys and the busy timeout of a new SQLite connection."""
    cursor = dbapi_connection.cursor()
    # WAL lets the web app read while a writer commits; NORMAL is durable in WAL mode
    # against process crashes (https://www.sqlite.org/wal.html).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    # Deleted rows' bytes are overwritten, not left in free pages: an erased person's
    # words must not stay in the file (on by default only in some builds of SQLite).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


class _Done:
    """What a statement left behind on its cursor, read in aiosqlite's thread."""

    __slots__ = ("description", "lastrowid", "rowcount")

    def __init__(self, description: Any = None, rowcount: int = -1, lastrowid: Any = None):
        self.description = description
        self.rowcount = rowcount
        self.lastrowid = lastrowid


def _run(
    connection: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> tuple[_Done, list[Any] | None]:
    """One statement start to end (on aiosqlite's thread): execute, fetch, close."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, () if parameters is None else parameters)
        rows = cursor.fetchall() if cursor.description else None
        return _Done(cursor.description, cursor.rowcount, cursor.lastrowid), rows
    finally:
        cursor.close()


class _OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor that costs one trip to aiosqlite's thread per statement.

    aiosqlite runs each call in its own thread and SQLAlchemy's adapter makes four calls
    per statement (open a cursor, execute, fetch, close), each a hand-over between threads
    and a wake-up of the event loop: most of the time a web answer's batch spent on
    SQLite. Here the four run as one function in that thread, and the cursor keeps what
    the statement left (rows, description, row count).
    """

    __slots__ = ()

    def __init__(self, adapt_connection: Any) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = _Done()  # type: ignore[assignment]
        self._soft_closed_memoized = {}  # type: ignore[assignment]
        self._rows = collections.deque()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        return await self._one_trip(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        return await self._one_trip(operation, seq_of_parameters, many=True)

    async def _one_trip(self, operation: Any, parameters: Any, *, many: bool) -> None:
        driver = self._connection
        adapted = cast(_OneTripConnection, self._adapt_connection)
        async with adapted._execute_mutex:
            found = adapted.on_loop(operation, parameters, many) if _ON_LOOP.get() else None
            if found is None:
                found = await driver._execute(adapted.waiting, operation, parameters, many)
        done, rows = found
        self._cursor = done  # type: ignore[assignment]
        self._rows = collections.deque(rows or ())

    async def _async_soft_close(self) -> None:
        return  # nothing stays open in the driver

    def close(self) -> None:
        self._rows.clear()


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """The adapted connection: statements on aiosqlite's thread, or on the loop's.

    A statement run on the loop must not wait for a lock there, so the connection's busy
    timeout is 0 while it runs them and :data:`BUSY_TIMEOUT_MS` again for anything run on
    aiosqlite's thread (its statements and the commit); ``_waits`` says which it is now.
    """

    __slots__ = ("_waits",)
    _cursor_cls = _OneTripCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self._waits = True

    def on_loop(
        self, operation: str, parameters: Any, many: bool
    ) -> tuple[_Done, list[Any] | None] | None:
        """Run a statement here, on the loop's thread; None if it would wait for a lock.

        The statement that met the lock did nothing (SQLite takes the write lock before
        it changes anything), so it is run again on aiosqlite's thread, waiting there.
        """
        connection = self._connection._conn
        if self._waits:
            connection.execute("PRAGMA busy_timeout=0")
            self._waits = False
        try:
            return _run(connection, operation, parameters, many)
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF == _SQLITE_BUSY:
                return None
            raise

    def waiting(
        self, operation: str, parameters: Any, many: bool
    ) -> tuple[_Done, list[Any] | None]:
        """Run a statement on aiosqlite's thread, waiting for a lock as configured."""
        connection = self._connection._conn
        self._wait_again(connection)
        return _run(connection, operation, parameters, many)

    def _wait_again(self, connection: sqlite3.Connection) -> None:
        if not self._waits:
            connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._waits = True

    def rollback(self) -> None:
        """Roll back on aiosqlite's thread; outside a transaction there is nothing to do.

        The pool rolls back every connection it is given back, after a commit and after
        a session that only read (no transaction: sqlite3 opens one with the first
        write); sqlite3 would send nothing then, so neither does the trip to its thread.
        """
        driver = self._connection._connection
        if driver is None or not driver.in_transaction:
            return
        super().rollback()

    def commit(self) -> None:
        """Commit on aiosqlite's thread, waiting for a lock as configured."""
        driver = self._connection
        if not driver._connection:
            return
        connection = driver._conn

        def commit_waiting() -> None:
            self._wait_again(connection)
            connection.commit()

        try:
            await_only(driver._execute(commit_waiting))
        except Exception as error:
            self._handle_exception(error)


class OneTripSQLite(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite adapter with :class:`_OneTripCursor` as its cursor."""

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        kw.setdefault("async_creator_fn", _open_sqlite)
        adapted = super().connect(*arg, **kw)
        return _OneTripConnection(self, adapted._connection)


async def _open_sqlite(*arg: Any, **kw: Any) -> aiosqlite.Connection:
    """An aiosqlite connection whose thread has ended when opening it failed.

    On a failed open aiosqlite asks its thread to stop without waiting for it, and the
    thread then answers the event loop: a command that ends at once (a file SQLite cannot
    open) has closed its loop by then, and the thread's error was printed after the
    command's one line.
    """
    connection = aiosqlite.connect(*arg, **kw)
    connection._thread.daemon = True  # as SQLAlchemy's own adapter does
    try:
        return await connection
    except BaseException:
        await asyncio.to_thread(connection._thread.join, 5)
        raise


async def read_batches(
    connection: AsyncConnection, statement: Select[Any], size: int
) -> AsyncGenerator[Sequence[Sequence[Any]], None]:
    """The rows of ``statement``, ``size`` at a time, as the driver gives them.

    For reading hundreds of thousands of rows (a report's free-text replies): the
    driver's own cursor, without SQLAlchemy's row objects and result processing, which
    cost several times the driver's reading itself (a million rows: about 2 s read
    straight from asyncpg or sqlite3, over 13 s through a streamed result). So only for
    columns that need no result processing (text, numbers; JSON cast to text; on SQLite
    times come as their stored text), with parameters as plain values (strings, numbers).
    On PostgreSQL a server-side cursor in the connection's transaction; on SQLite the
    statement and each fetch run on aiosqlite's thread, waiting for locks as configured.
    """
    compiled = statement.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    params = [compiled.params[name] for name in compiled.positiontup or ()]
    sql = str(compiled)
    raw = await connection.get_raw_connection()
    adapted = raw.dbapi_connection
    if connection.dialect.name == "postgresql":
        driver: Any = raw.driver_connection
        if driver.is_in_transaction():
            cursor = await driver.cursor(sql, *params)
            while batch := await cursor.fetch(size):
                yield batch
            return
        rows = await driver.fetch(sql, *params)
        for start in range(0, len(rows), size):
            yield rows[start : start + size]
        return
    if not isinstance(adapted, _OneTripConnection):
        result = await connection.stream(statement)
        async for part in result.partitions(size):
            yield part
        return
    one_trip = adapted
    worker = one_trip._connection
    sqlite = worker._conn

    def open_cursor() -> sqlite3.Cursor:
        one_trip._wait_again(sqlite)
        return sqlite.execute(sql, params)

    mutex = one_trip._execute_mutex
    async with mutex:
        cursor = await worker._execute(open_cursor)
    try:
        while True:
            async with mutex:
                batch = await worker._execute(cursor.fetchmany, size)
            if not batch:
                return
            yield batch
    finally:
        async with mutex:
            await worker._execute(cursor.close)


def _create_private_file(url: str) -> None:
    """Create a new SQLite file readable by its owner only (SQLite's own default is 644).

    SQLite gives its -wal and -shm files the database file's permissions.
    """
    prefix = "sqlite+aiosqlite:///"
    path = url[len(prefix) :].split("?", 1)[0] if url.startswith(prefix) else ""
    if path in ("", ":memory:") or os.path.exists(path):
        return
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """The one session factory; objects stay usable after commit."""
    if is_sqlite(engine):
        return async_sessionmaker(
            engine, expire_on_commit=False, sync_session_class=NumberingSession
        )
    return async_sessionmaker(
        engine, expire_on_commit=False, sync_session_class=SequenceNumberingSession
    )


class SequenceNumberingSession(Session):
    """A PostgreSQL session that takes new rows' ids from their sequences before a flush.

    Rows whose ids the database gives go in with a many-row ``INSERT ... RETURNING``
    whose text has a set of placeholders per row: a different statement for every number
    of rows, each prepared and kept on every connection (the inbox batch's answers and
    dialogues made one per batch size, and a worker's prepared statements kept growing
    for the 30-minute soak). Rows numbered first go in with one executemany of one text.
    The ids come from the same sequence the column's default draws on, in one statement
    whatever their number.
    """


class NumberingSession(Session):
    """A SQLite session that numbers new rows itself, so a flush inserts them together.

    SQLite cannot say which id RETURNING gave which row of a many-row INSERT, so the ORM
    inserts rows one statement at a time to learn their ids: a batch of 100 answers is 100
    statements. Inside a transaction that has written already, this session holds
    SQLite's only write lock, so ``max(id) + 1`` onwards are exactly the ids SQLite
    would give (a table without AUTOINCREMENT takes the next after the largest, one with
    it the next after the largest it ever gave: https://www.sqlite.org/autoinc.html);
    rows numbered here go in one executemany.
    """


def _write_locked(session: Session) -> bool:
    """Whether the session's SQLite connection is inside a transaction that has written.

    The driver opens a transaction with the first write only (a read alone runs outside
    one), so being inside one means holding the write lock.
    """
    if not session.in_transaction():
        return False
    connection = session.connection().connection.dbapi_connection
    driver = getattr(connection, "_connection", None)  # aiosqlite's Connection
    return bool(getattr(driver, "in_transaction", False))


def _unnumbered(session: Session) -> dict[Any, list[Any]]:
    """New objects whose integer id the database would give, by mapper, where a flush
    inserts more than one of them: in the order the unit of work inserts them."""
    pending: dict[Any, list[Any]] = {}
    for instance in session.new:
        mapper = sa_inspect(instance).mapper
        (key,) = mapper.primary_key if len(mapper.primary_key) == 1 else (None,)
        if key is None or not isinstance(key.type, Integer) or key.autoincrement is not True:
            continue
        if mapper.get_property_by_column(key).class_attribute.__get__(instance, None) is None:
            pending.setdefault(mapper, []).append(instance)
    wanted = {mapper: rows for mapper, rows in pending.items() if len(rows) > 1}
    for rows in wanted.values():
        rows.sort(key=lambda row: sa_inspect(row).insert_order)
    return wanted


def _number(mapper: Any, rows: Sequence[Any], numbers: Sequence[int]) -> None:
    attribute = mapper.get_property_by_column(mapper.primary_key[0]).key
    for number, row in zip(numbers, rows, strict=True):
        setattr(row, attribute, number)


# One text for every table and number of rows. nextval is called once per row of the
# series, in order, so the ids rise in the order the rows are inserted.
_NEXT_IDS = text(
    "SELECT nextval(pg_get_serial_sequence(:table, :column)) FROM generate_series(1, :count)"
)


@event.listens_for(SequenceNumberingSession, "before_flush")
def _number_from_sequences(session: Session, _context: Any, _instances: Any) -> None:
    wanted = _unnumbered(session)
    if not wanted:
        return
    connection = session.connection()
    for mapper, rows in wanted.items():
        found = connection.execute(
            _NEXT_IDS,
            {
                "table": mapper.local_table.name,
                "column": mapper.primary_key[0].name,
                "count": len(rows),
            },
        )
        _number(mapper, rows, sorted(int(value) for value in found.scalars()))


@event.listens_for(NumberingSession, "before_flush")
def _number_new_rows(session: Session, _context: Any, _instances: Any) -> None:
    wanted = _unnumbered(session)
    if not wanted or not session.in_transaction():
        return
    connection = session.connection()
    if not _write_locked(session):
        # The flush's first INSERT would take the write lock; take it just before, with
        # a write that changes nothing, so that these rows can be numbered too (the
        # inbox's batch writes first in its flush: its answers went one INSERT each).
        mapper = next(iter(wanted))
        name, key = mapper.local_table.name, mapper.primary_key[0].name
        connection.execute(text(f"UPDATE {name} SET {key} = {key} WHERE 0"))
        if not _write_locked(session):
            return
    for mapper, rows in wanted.items():
        if mapper.local_table.kwargs.get("sqlite_autoincrement"):
            # AUTOINCREMENT: after the largest id ever given, which SQLite keeps (never
            # below the largest held: https://www.sqlite.org/autoinc.html); one read.
            query = text("SELECT seq FROM sqlite_sequence WHERE name = :name")
            top = connection.execute(query, {"name": mapper.local_table.name}).scalar() or 0
        else:
            top = connection.execute(select(func.max(mapper.primary_key[0]))).scalar() or 0
        _number(mapper, rows, range(top + 1, top + 1 + len(rows)))


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


class StoreReadOnly(Exception):
    """The database answers but takes no writes (a PostgreSQL standby or read-only, or a
    SQLite file whose disk has no room left)."""


# Below this much room beside a SQLite file, a write (its pages in the write-ahead log)
# may find none: the store is as good as full.
SQLITE_MIN_FREE = 1 << 20


async def check_writable(engine: AsyncEngine, *, lock_wait: float = 1.0) -> None:
    """Raise unless the store can take a write within ``lock_wait`` seconds.

    A read proves little: SQLite answers reads while another process holds its write
    lock (``BEGIN EXCLUSIVE``: in WAL mode readers go on), and every request that
    stores something then waits out the busy timeout and answers 503. On SQLite the
    write lock is taken and given back at once (``BEGIN IMMEDIATE``, changing nothing),
    on a connection of its own so that the pool's busy timeout of 30 s does not apply,
    and the file's disk must have room (``SQLITE_MIN_FREE``);
    on PostgreSQL the server must not be a standby nor read-only.
    """
    if is_sqlite(engine):
        path = engine.url.database
        if path and path != ":memory:":
            await asyncio.to_thread(_take_sqlite_write_lock, path, lock_wait)
        return
    async with engine.connect() as connection:
        read_only = await connection.scalar(
            text(
                "select pg_is_in_recovery() "
                "or current_setting('transaction_read_only') = 'on' "
                "or current_setting('default_transaction_read_only') = 'on'"
            )
        )
    if read_only:
        raise StoreReadOnly("the database server takes no writes (read-only)")


def _take_sqlite_write_lock(path: str, timeout: float) -> None:
    # mode=rw: a missing file is an error here, not a new empty database.
    uri = "file:" + urllib.parse.quote(path) + "?mode=rw"
    connection = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
    finally:
        connection.close()
    # The lock taken and given back wrote nothing, so a full disk did not show.
    space = os.statvfs(os.path.dirname(os.path.abspath(path)))
    free = space.f_bfree if os.geteuid() == 0 else space.f_bavail
    if free * space.f_frsize < SQLITE_MIN_FREE:
        raise StoreReadOnly("the disk is full")


async def autovacuum_off(engine: AsyncEngine) -> bool:
    """PostgreSQL's autovacuum is off on this server (never on SQLite, which has none).

    Without it nothing analyses the inbox and outbox as they grow: their claims keep the
    plans the empty tables gave them (docs/operations.md, "Statistics and vacuuming").
    """
    if engine.dialect.name != "postgresql":
        return False
    async with engine.connect() as connection:
        setting = await connection.scalar(text("SELECT current_setting('autovacuum')"))
    return str(setting) != "on"


_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # connection refused or reset (ConnectionError), the host unreachable
    TimeoutError,
    sa_exc.OperationalError,  # includes SQLite's "database is locked"
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,  # no pooled connection came free
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    # Class 57: the server is shutting down, starting up or was told to stop.
    asyncpg.exceptions.OperatorInterventionError,
    # Class 53: its disk is full, its memory or its connections ran out. SQLAlchemy
    # wraps these as a plain DBAPIError, not OperationalError as for SQLite's full disk.
    asyncpg.exceptions.InsufficientResourcesError,
    # 58030: the server could not read or write its own files.
    asyncpg.exceptions.PostgresIOError,
)

#: What an operator is told for the outages whose cause the driver names.
_SQLITE_REASONS = {
    "SQLITE_FULL": "the disk is full",
    "SQLITE_BUSY": "the database is locked by another process",
    "SQLITE_LOCKED": "the database is locked by another process",
    "SQLITE_READONLY": "the database file is read-only",
    "SQLITE_IOERR": "the database file could not be read or written",
    "SQLITE_CANTOPEN": "the database file cannot be opened",
}
_POSTGRES_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (asyncpg.exceptions.DiskFullError, "the database server's disk is full"),
    (asyncpg.exceptions.OutOfMemoryError, "the database server is out of memory"),
    (asyncpg.exceptions.TooManyConnectionsError, "the database server has no connection free"),
    (asyncpg.exceptions.InsufficientResourcesError, "the database server ran out of resources"),
    (asyncpg.exceptions.PostgresIOError, "the database server could not read or write its files"),
    (asyncpg.exceptions.OperatorInterventionError, "the database server is stopping or starting"),
    (asyncpg.PostgresConnectionError, "the database server cannot be reached"),
    (OSError, "the database server cannot be reached"),
    (TimeoutError, "the database did not answer in time"),
    (sa_exc.TimeoutError, "no database connection came free in time"),
)


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and what it wraps: SQLAlchemy's ``orig``, and each ``__cause__``."""
    seen: set[int] = set()
    found: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        found.append(current)
        orig = getattr(current, "orig", None)
        pending += [orig if isinstance(orig, BaseException) else None, current.__cause__]
    return found


def outage_reason(error: BaseException) -> str:
    """Why the store is unavailable, in words for an operator ("the disk is full"); the
    error's type name when the driver does not say. Never the statement's values."""
    if isinstance(error, StoreReadOnly):
        return str(error)
    chain = _chain(error)
    for current in chain:
        name = getattr(current, "sqlite_errorname", None)
        if isinstance(current, sqlite3.Error) and isinstance(name, str):
            # Extended codes (SQLITE_IOERR_WRITE) share their primary code's reason.
            primary = "_".join(name.split("_")[:2])
            if primary in _SQLITE_REASONS:
                return _SQLITE_REASONS[primary]
    for kind, reason in _POSTGRES_REASONS:
        if any(isinstance(current, kind) for current in chain):
            return reason
    return type(error).__name__


def describe(error: BaseException) -> str:
    """A database error in one line for an operator: what went wrong and, for an outage,
    why. Never the statement's values (the engine hides them) or the URL's password."""
    chain = _chain(error)
    failed = next((current for current in chain if isinstance(current, ConnectFailed)), None)
    if failed is not None:
        return str(failed)
    orig = getattr(error, "orig", None)
    lines = str(orig if isinstance(orig, BaseException) else error).strip().splitlines()
    detail = lines[0] if lines else type(error).__name__
    reason = outage_reason(error)
    return detail if reason == type(error).__name__ else f"{reason} ({detail})"


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the store cannot be reached now (an outage), not a bug.

    Drivers' errors arrive wrapped (SQLAlchemy keeps the driver's as ``orig``, asyncpg's
    adaptation as ``__cause__``), so the whole chain is looked at.
    """
    return any(
        isinstance(current, _UNAVAILABLE)
        or (isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated)
        for current in _chain(error)
    )
