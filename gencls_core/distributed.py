"""Running as several processes (``torchrun`` / ``accelerate launch``): every rank runs the same engine, agrees on
one run directory, decodes its share of the inputs (gathered back in order), and only the main process writes
run files. A single process is the special case of one rank."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Processes:
    """The processes of this run, from accelerate's ``PartialState`` (``cpu``: gloo on CPU-only machines)."""

    def __init__(self, device: str) -> None:
        from accelerate import PartialState

        self.state = PartialState(cpu=device == "cpu")

    @property
    def count(self) -> int:
        return self.state.num_processes

    @property
    def is_main(self) -> bool:
        return self.state.is_main_process

    def agree(self, make: Callable[[], T]) -> T:
        """``make()`` on the main process, its result sent to every rank."""
        if self.count == 1:
            return make()
        from accelerate.utils import broadcast_object_list

        value: list[Any] = [make() if self.is_main else None]
        broadcast_object_list(value)
        agreed: T = value[0]
        return agreed

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value``, in rank order."""
        if self.count == 1:
            return [value]
        from accelerate.utils import gather_object

        return gather_object([value])

    def wait(self) -> None:
        """Block until every rank gets here."""
        if self.count > 1:
            self.state.wait_for_everyone()

    def map_shards(self, items: list[Any], fn: Callable[[list[Any]], list[T]]) -> list[T]:
        """``fn`` over this rank's contiguous share of ``items``; every rank gets all results, in order."""
        if self.count == 1:
            return fn(items)
        with self.state.split_between_processes(items) as part:
            local = fn(list(part)) if part else []
        return [x for shard in self.gather(local) for x in shard]
