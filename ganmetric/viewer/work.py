"""The viewer's work queue: one worker thread, requests served in arrival order, none for a client that has gone.

The generator runs on one thread, so requests wait their turn. Two rules keep a burst of
requests from delaying the next render:

- When a request's turn comes, it runs only if its client is still connected
  (``await request.is_disconnected()``): 20 strips requested and abandoned cost nothing.
- A request with a ``key`` (the app uses one per page and route, e.g. each page's strips)
  replaces the waiting request with the same key, which is answered at once with
  :class:`Superseded`: at most one of them waits.

Plain asyncio; ``request`` is anything with an ``async is_disconnected()`` (Starlette's Request).
"""
from __future__ import annotations

import asyncio
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor


class ClientGone(Exception):
    """The client closed its connection before its request's turn (the work is skipped)."""


class Superseded(Exception):
    """A newer request with the same key took this waiting request's place (the work is skipped)."""


class _Job:
    __slots__ = ("request", "key", "turn")

    def __init__(self, request, key, turn: asyncio.Future):
        self.request, self.key, self.turn = request, key, turn


class WorkQueue:
    """Runs blocking calls one at a time on a worker thread, in arrival order (see the module docstring).

    Attributes:
        counts: ``Counter`` of ``"run"`` (calls made), ``"gone"`` (skipped: client disconnected) and
            ``"superseded"`` (skipped: replaced by a newer request with the same key).
    """

    def __init__(self, thread_name: str = "ganmetric-view"):
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self._waiting: deque[_Job] = deque()
        self._by_key: dict = {}
        self._busy = False
        self.counts: Counter = Counter()

    async def run(self, request, fn, *args, key=None, **kwargs):
        """``fn(*args, **kwargs)`` on the worker thread once every earlier request is done.

        Args:
            request: the request the call answers (its client is checked before the call).
            fn: the blocking call.
            key: requests with equal keys replace each other while waiting (None: never replaced).

        Returns:
            what ``fn`` returns.

        Raises:
            ClientGone: the client disconnected before the call's turn (``fn`` is not called).
            Superseded: a newer request with the same key came while this one waited (``fn`` is not called).
            Exception: whatever ``fn`` raises.
        """
        loop = asyncio.get_running_loop()
        job = _Job(request, key, loop.create_future())
        if key is not None:
            previous = self._by_key.get(key)
            if previous is not None and not previous.turn.done():
                previous.turn.set_exception(Superseded())
                self.counts["superseded"] += 1
            self._by_key[key] = job
        self._waiting.append(job)
        self._next()
        try:
            await job.turn
        except BaseException:
            if job.turn.done() and not job.turn.cancelled() and job.turn.exception() is None:
                self._release()  # given the turn, then cancelled before using it: pass it on
            raise
        finally:
            if key is not None and self._by_key.get(key) is job:
                del self._by_key[key]
        try:
            if await request.is_disconnected():
                self.counts["gone"] += 1
                raise ClientGone()
            self.counts["run"] += 1
            return await loop.run_in_executor(self._worker, lambda: fn(*args, **kwargs))
        finally:
            self._release()

    @property
    def waiting(self) -> int:
        """How many requests wait for their turn (not counting the one running)."""
        return sum(not job.turn.done() for job in self._waiting)

    def _next(self) -> None:
        """Give the turn to the first waiting request still waiting, if no call runs."""
        while not self._busy and self._waiting:
            job = self._waiting.popleft()
            if not job.turn.done():  # superseded or cancelled ones are skipped
                self._busy = True
                job.turn.set_result(None)

    def _release(self) -> None:
        self._busy = False
        self._next()

    def shutdown(self) -> None:
        """Stop the worker thread (the running call finishes; nothing queued starts)."""
        self._worker.shutdown(wait=False, cancel_futures=True)
