"""The async connection underneath the store: one aiosqlite connection, short transactions.

All statements of one process go through one connection and one lock, so a transaction is never
interleaved with another coroutine's statements. Writers use `BEGIN IMMEDIATE` (they wait for the
write lock up to the busy timeout instead of failing half-way); readers use a deferred
transaction, which in WAL mode is a consistent snapshot that never blocks the writer.

A read costs one round trip to aiosqlite's thread per statement: its `BEGIN` goes with its first
statement, and its `COMMIT` is queued behind it without being waited for (the thread runs its
queue in order, so whatever the connection does next comes after it). It was three (`BEGIN`, the
`SELECT`, `COMMIT`), each a hand-over to the thread and a wake-up of the event loop: a third of
the control room's loop iterations with four runs streaming.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import Any, Self, TypeVar

import aiosqlite

from db.connection import DatabaseError, connect_sync, migrate
from db.rows import JSON_COLUMNS, Convert, Row, row_dict, rows_dicts

T = TypeVar("T")
R = TypeVar("R", bound=Row)


def typed_rows(row_type: type[R], rows: list[sqlite3.Row]) -> list[R]:
    """`row_type.many(rows_dicts(rows))` with each column's decoding chosen once per read, not per
    row and column (the queue's runs, read each second while runs stream, spent a tenth of the
    control room's samples in the per-value checks and look-ups by name)."""
    if not rows:
        return []
    names = set(row_type.names())
    # by index: a sqlite3.Row finds a name by comparing it with each column's in turn
    columns = [(i, key, _decoder(key, row_type.CONVERT.get(key))) for i, key in enumerate(rows[0].keys()) if key in names]
    plain = [key for _, key, decoder in columns if decoder is None]
    get_plain = _getter([i for i, _, decoder in columns if decoder is None])
    converted = [(i, key, decoder) for i, key, decoder in columns if decoder is not None]
    out = []
    for row in rows:
        values = dict(zip(plain, get_plain(row), strict=True))
        for i, key, decode in converted:
            values[key] = decode(row[i])
        out.append(row_type(**values))
    return out


def _getter(indexes: list[int]) -> Callable[[sqlite3.Row], tuple[Any, ...]]:
    """The values at `indexes` of a row, as a tuple (`itemgetter` of one index gives the value)."""
    if len(indexes) > 1:
        return itemgetter(*indexes)

    def get(row: sqlite3.Row) -> tuple[Any, ...]:
        return tuple(row[i] for i in indexes)
    return get


def _decoder(column: str, convert: Convert | None) -> Convert | None:
    """What `row_dict` then `Row.of` do to a value of `column` (None: nothing)."""
    if column not in JSON_COLUMNS:
        return convert
    then = convert or _same

    def decode(value: Any) -> Any:
        return then(json.loads(value) if isinstance(value, str) else value)
    return decode


def _same(value: Any) -> Any:
    return value


class Tx:
    """Statements inside one transaction (or one read snapshot)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return rows_dicts(await self._fetch(sql, params))

    async def all_of(self, row_type: type[R], sql: str, params: Sequence[Any] = ()) -> list[R]:
        """The rows as `row_type` (`typed_rows`)."""
        return typed_rows(row_type, await self._fetch(sql, params))

    async def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = await self._fetch(sql, params)
        return row_dict(rows[0]) if rows else None

    async def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = await self._fetch(sql, params)
        return rows[0][0] if rows else None

    async def run(self, sql: str, params: Sequence[Any] = ()) -> tuple[int, int]:
        """Execute one statement; returns (lastrowid, rowcount)."""
        cursor = await self._conn.execute(sql, params)
        result = (cursor.lastrowid or 0, cursor.rowcount)
        await cursor.close()
        return result

    async def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._conn.executemany(sql, rows)


class ReadTx(Tx):
    """The statements of one read: the first also begins the snapshot, in the same round trip."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        super().__init__(conn)
        self.began = False

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
        begin, self.began = not self.began, True  # before the await: a queued call runs even if cancelled
        return await self._conn._execute(_read, self._conn, begin, sql, params)  # type: ignore[no-any-return,no-untyped-call]

    async def run(self, sql: str, params: Sequence[Any] = ()) -> tuple[int, int]:
        await self._fetch("SELECT 1", ())  # the snapshot begun first, as for any statement of a read
        return await super().run(sql, params)

    async def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._fetch("SELECT 1", ())
        await super().many(sql, rows)


def _read(conn: aiosqlite.Connection, begin: bool, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
    """On the store's thread: one statement of a read, after `BEGIN` when it is the first."""
    raw = conn._conn
    if begin:
        raw.execute("BEGIN")
    return raw.execute(sql, params).fetchall()


def _end_read(conn: aiosqlite.Connection) -> None:
    """On the store's thread: end a read's snapshot (a read has nothing to keep: should COMMIT fail,
    it is rolled back, so the connection is never left inside a transaction)."""
    raw = conn._connection
    if raw is None or not raw.in_transaction:
        return
    try:
        raw.execute("COMMIT")
    except sqlite3.Error:
        raw.rollback()


class StoreCore:
    """Connection management; the table-specific methods live in the mixins of `db.store`."""

    def __init__(self, path: Path, conn: aiosqlite.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> Self:
        """Open (creating and migrating as needed) the database at `path`."""
        path = Path(path)

        def prepare() -> None:
            # checked and migrated on a plain connection first, so a bad or newer file fails
            # here, before aiosqlite starts its worker thread
            conn = connect_sync(path)
            try:
                migrate(conn, path)
            finally:
                conn.close()

        try:
            await asyncio.to_thread(prepare)
        except sqlite3.Error as exc:
            raise DatabaseError(f"cannot open {path}: {exc}") from exc
        conn = aiosqlite.Connection(lambda: connect_sync(path), iter_chunk_size=256)
        try:
            await conn
        except sqlite3.Error as exc:
            raise DatabaseError(f"cannot open {path}: {exc}") from exc
        return cls(path, conn)

    async def close(self) -> None:
        await self._conn.close()

    async def __aenter__(self) -> StoreCore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def on_thread(self, work: Callable[[], T]) -> T:
        """`work()` run on the store's thread after what the connection was asked before: one
        hand-over for a plain function that must not block the event loop (the control room's
        probe of the database's version and the engine's lock, once a second), without waking a
        thread of its own. `work` must not use this connection."""
        return await self._conn._execute(work)  # type: ignore[no-any-return,no-untyped-call]

    async def _begin(self, statement: str) -> None:
        """BEGIN, also when the caller is cancelled meanwhile: aiosqlite runs the statement on its
        thread whatever happens to the awaiting task, so a cancelled BEGIN would leave the
        connection inside a transaction nobody ends ("cannot start a transaction within a
        transaction" for the next caller). It is awaited to its end and, if it began, rolled back."""
        began = asyncio.ensure_future(self._conn.execute(statement))
        try:
            await asyncio.shield(began)
        except asyncio.CancelledError:
            await asyncio.wait([began])
            if not began.cancelled() and began.exception() is None:
                await asyncio.shield(self._conn.execute("ROLLBACK"))
            raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self._lock:
            await self._begin("BEGIN IMMEDIATE")
            try:
                yield Tx(self._conn)
            except BaseException:
                await asyncio.shield(self._conn.execute("ROLLBACK"))
                raise
            await asyncio.shield(self._conn.execute("COMMIT"))

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Tx]:
        async with self._lock:
            tx = ReadTx(self._conn)
            try:
                yield tx
            finally:
                if tx.began and not self._queue_end_read():  # pragma: no cover - another aiosqlite
                    await asyncio.shield(self._conn._execute(_end_read, self._conn))  # type: ignore[no-untyped-call]

    def _queue_end_read(self) -> bool:
        """Queue the read's end on the store's thread and go on: the thread runs its queue in order,
        so the next statement of this connection (its next read, a write, closing) comes after it.
        Queued without a future (aiosqlite's worker runs such an item and posts nothing back), so
        the event loop is not woken for it. False where aiosqlite has no such queue."""
        queue = getattr(self._conn, "_tx", None)
        if not hasattr(queue, "put_nowait"):  # pragma: no cover - another aiosqlite
            return False
        queue.put_nowait((None, partial(_end_read, self._conn)))  # type: ignore[union-attr]
        return True
