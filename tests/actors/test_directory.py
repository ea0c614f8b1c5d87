"""Directory: lookups by name take no lock; a start or restart replaces the map whole."""

from __future__ import annotations

from typing import Any

import pykka

from autohedge.actors.directory import Directory
from autohedge.core.actor_names import EXECUTOR, MONITOR
from autohedge.core.metrics import Metrics


class _Echo(pykka.ThreadingActor):
    def on_receive(self, message: Any) -> Any:
        return message


class _NoLookupMayTakeThis:
    def __enter__(self) -> None:
        raise AssertionError("a lookup took the directory's lock")

    def __exit__(self, *_: object) -> None:
        return None


def test_directory_lookups_and_tells_take_no_lock_while_writes_replace_the_map_whole() -> None:
    directory = Directory(Metrics())
    ref = _Echo.start()
    try:
        directory.register(EXECUTOR, ref)
        seen = directory._refs  # what a reader may be holding when the next write comes
        directory.register(MONITOR, ref)
        directory.unregister(EXECUTOR)
        assert seen == {EXECUTOR: ref}  # never changed under a reader
        assert directory.names() == [MONITOR]

        directory._write_lock = _NoLookupMayTakeThis()  # type: ignore[assignment]
        assert directory.get(MONITOR) is ref and directory.get(EXECUTOR) is None
        assert directory.tell(MONITOR, "hello") and directory.tell_if_present(MONITOR, "again")
        assert not directory.tell(EXECUTOR, "nobody")
        assert ref.ask("barrier") == "barrier"  # both tells were delivered before this ask
    finally:
        ref.stop()
