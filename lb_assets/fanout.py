"""One stream, several consumers: each item produced once and handed to every consumer, memory bounded.

Used to convert a project's export once per run (masks downloaded once) while two writers consume the
converted rows: the ``labelbox`` branch and the separate annotation dataset. Each consumer runs on a thread of
its own and reads the items through a bounded queue, so at most ``buffer`` items wait per consumer. An error
in a consumer stops the producer; an error in the producer reaches every consumer (their writes roll back),
and the first error is raised to the caller.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
_DONE = object()
POLL_SECONDS = 0.2


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Consumer(Generic[T, R]):
    """A consumer thread reading from its own bounded queue."""

    def __init__(self, name: str, consume: Callable[[Iterator[T]], R], buffer: int) -> None:
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=buffer)
        self.consume = consume
        self.result: R | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"lb_assets-{name}", daemon=True)

    def items(self) -> Iterator[T]:
        while True:
            item = self.queue.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item

    def _run(self) -> None:
        try:
            self.result = self.consume(self.items())
        except BaseException as exc:  # handed to the caller's thread, which re-raises it
            self.error = exc

    def put(self, item: Any) -> bool:
        """Queue ``item``; False once this consumer has stopped (finished early or failed)."""
        while self.thread.is_alive():
            try:
                self.queue.put(item, timeout=POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False


def fan_out(items: Iterable[T], consumers: dict[str, Callable[[Iterator[T]], R]], buffer: int = 4) -> dict[str, R]:
    """Feed every item of ``items`` to each consumer (a function of an iterator); their results by name.

    Raises:
        The first error of the producer or of a consumer.
    """
    if len(consumers) == 1:  # no threads needed
        [(name, consume)] = consumers.items()
        return {name: consume(iter(items))}
    running = {name: _Consumer(name, consume, buffer) for name, consume in consumers.items()}
    for consumer in running.values():
        consumer.thread.start()
    produced: BaseException | None = None
    try:
        for item in items:
            if not all(consumer.put(item) for consumer in running.values()):
                stopped = next(name for name, c in running.items() if not c.thread.is_alive())
                produced = RuntimeError(f"{stopped} stopped before the end of the stream; the others are stopped too")
                break
    except BaseException as exc:
        produced = exc
    for consumer in running.values():
        consumer.put(_Failed(produced) if produced is not None else _DONE)
    for consumer in running.values():
        consumer.thread.join()
    errors = [c.error for c in running.values()] + [produced]  # a consumer's own error explains best
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        raise first
    # every consumer returned (none raised), so each result is set: R, not the initial None
    return {name: consumer.result for name, consumer in running.items()}  # type: ignore[misc]
