"""Group commit: concurrent single-document writes to one collection travel as one bulk command.

The first write goes to the server at once; writes that arrive while a command is in flight wait for it and then
go together in the next one. An idle system therefore adds no latency, and a busy one sends fewer, larger
commands (on the embedded server a bulk command costs about half as much per document as single writes).
Each caller still gets its own outcome: its own DuplicateKeyError, its own update result.

Reads by key use the same queue (`grouped_lookup`): concurrent lookups share one `$in` find. A lookup is sent
after it was asked for, so it sees every write that finished before it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, ClientBulkWriteException, DuplicateKeyError, InvalidOperation, WriteError
from pymongo.results import UpdateResult

Op = TypeVar("Op")
Result = TypeVar("Result")
Mongo = dict[str, Any]

DUPLICATE_KEY = 11000
MAX_BATCH = 64


class GroupCommit(Generic[Op, Result]):
    """Queues writes of one kind and runs them in batches, one batch in flight at a time."""

    def __init__(self, run: Callable[[list[Op]], Awaitable[list[Result | Exception]]], *, max_batch: int = MAX_BATCH):
        self._run = run
        self._max_batch = max_batch
        self._pending: list[tuple[Op, asyncio.Future[Result]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, op: Op) -> Result:
        """Write `op` with whatever else is waiting; its own result, or its own exception."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((op, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            try:
                results = await self._run([op for op, _ in batch])
            except Exception as exc:  # the whole command failed: every caller in it sees why
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # its caller was cancelled; the write itself may still have happened
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)


def grouped_lookup(fetch: Callable[[list[Op]], Awaitable[list[Result]]]) -> GroupCommit[Op, Result]:
    """Lookups answered together: `fetch` gets the keys of every waiting caller and returns one answer per key."""

    async def run(keys: list[Op]) -> list[Result | Exception]:
        return list(await fetch(keys))

    return GroupCommit(run)


def _write_error(error: Mapping[str, Any]) -> WriteError:
    """The exception a single write would have raised for this bulk write error."""
    code = int(error.get("code", 0))
    message = str(error.get("errmsg", "write error"))
    if code == DUPLICATE_KEY:
        return DuplicateKeyError(message, code, dict(error))
    return WriteError(message, code, dict(error))


def grouped_inserts(collection: AsyncCollection[Mongo]) -> GroupCommit[Mongo, None]:
    """insert_one semantics (DuplicateKeyError per document) over unordered insert_many."""

    async def run(docs: list[Mongo]) -> list[Exception | None]:
        try:
            await collection.bulk_write([InsertOne(doc) for doc in docs], ordered=False)
        except BulkWriteError as exc:
            errors = {e["index"]: _write_error(e) for e in exc.details.get("writeErrors", [])}
            if exc.details.get("writeConcernErrors"):
                raise
            return [errors.get(i) for i in range(len(docs))]
        return [None] * len(docs)

    return GroupCommit(run)


def grouped_updates(collection: AsyncCollection[Mongo]) -> GroupCommit[tuple[Mongo, Mongo], UpdateResult]:
    """update_one semantics (a result per update) over one client bulkWrite; servers before 8.0 get one by one."""
    client = collection.database.client
    namespace = f"{collection.database.name}.{collection.name}"
    bulk_write_supported = True

    async def one_by_one(ops: list[tuple[Mongo, Mongo]]) -> list[UpdateResult | Exception]:
        outcomes = await asyncio.gather(*(collection.update_one(f, u) for f, u in ops), return_exceptions=True)
        return [o if isinstance(o, UpdateResult | Exception) else RuntimeError(repr(o)) for o in outcomes]

    async def run(ops: list[tuple[Mongo, Mongo]]) -> list[UpdateResult | Exception]:
        nonlocal bulk_write_supported
        if len(ops) == 1 or not bulk_write_supported:
            return await one_by_one(ops)
        models = [UpdateOne(f, u, namespace=namespace) for f, u in ops]
        try:
            result = await client.bulk_write(models, ordered=False, verbose_results=True)
        except InvalidOperation:  # the server predates the bulkWrite command (MongoDB < 8.0)
            bulk_write_supported = False
            return await one_by_one(ops)
        except ClientBulkWriteException as exc:
            if exc.error or exc.write_concern_errors or exc.partial_result is None:
                raise
            errors = {int(e["idx"]): _write_error(e) for e in exc.details.get("writeErrors", [])}
            done = exc.partial_result.update_results
            return [errors.get(i) or done.get(i) or RuntimeError("no result") for i in range(len(ops))]
        return [result.update_results[i] for i in range(len(ops))]

    return GroupCommit(run)
