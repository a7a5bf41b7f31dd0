"""One stream to several consumers: every item reaches each, errors stop everybody."""

import threading
from collections.abc import Iterator

import pytest

from lb_assets.fanout import fan_out


def _total(items: Iterator[int]) -> int:
    return sum(items)


def test_each_consumer_sees_every_item_once_and_memory_is_bounded() -> None:
    produced: list[int] = []
    ahead: list[int] = []
    seen = {"a": 0}
    lock = threading.Lock()

    def source() -> Iterator[int]:
        for i in range(1000):
            produced.append(i)
            with lock:
                ahead.append(i - seen["a"])
            yield i

    def slow(items: Iterator[int]) -> list[int]:
        out = []
        for item in items:
            out.append(item)
            with lock:
                seen["a"] = item
        return out

    result = fan_out(source(), {"a": slow, "b": _total}, buffer=4)
    assert result == {"a": list(range(1000)), "b": sum(range(1000))} and produced == list(range(1000))
    assert max(ahead) <= 4 + 2  # the producer never runs far ahead of the slowest consumer


def test_a_failing_consumer_stops_the_producer_and_the_others() -> None:
    produced: list[int] = []
    finished: list[str] = []

    def source() -> Iterator[int]:
        for i in range(10_000):
            produced.append(i)
            yield i

    def failing(items: Iterator[int]) -> None:
        for item in items:
            if item == 5:
                raise ValueError("bad row 5")

    def other(items: Iterator[int]) -> int:
        total = sum(items)
        finished.append("other")  # must not be reached: its stream ends with the error
        return total

    with pytest.raises(ValueError, match="bad row 5"):
        fan_out(source(), {"failing": failing, "other": other}, buffer=2)
    assert len(produced) < 100 and finished == []


def test_a_failing_producer_reaches_every_consumer() -> None:
    errors: list[str] = []

    def source() -> Iterator[int]:
        yield 1
        raise OSError("export unreadable")

    def consumer(items: Iterator[int]) -> int:
        try:
            return sum(items)
        except OSError as exc:
            errors.append(str(exc))
            raise

    with pytest.raises(OSError, match="export unreadable"):
        fan_out(source(), {"a": consumer, "b": consumer})
    assert errors == ["export unreadable", "export unreadable"]
