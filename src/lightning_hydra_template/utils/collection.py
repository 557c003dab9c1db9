"""Python's cyclic garbage collector around start-up.

Importing torch, Lightning and their dependencies creates millions of objects that live as long as the
process. While they are created, the collector would walk them again and again; afterwards, every full
collection during training walks them all once more. So collection is paused while a run starts, and
what exists when training begins is frozen (``gc.freeze``): later collections skip it. That saves
several seconds of CPU on a short run. Reference counting frees objects as usual throughout.
"""

from __future__ import annotations

import atexit
import gc
from collections.abc import Iterator
from contextlib import contextmanager

_frozen = False
_paused: list[bool] = []  # per open collection_paused block: whether the collector was on before it


@contextmanager
def collection_paused() -> Iterator[None]:
    """No cyclic collection inside, until :func:`freeze_start_up`; the collector is as it was
    afterwards, however the block ends."""
    _paused.append(gc.isenabled())
    gc.disable()
    try:
        yield
    finally:
        if _paused.pop():
            gc.enable()


def freeze_start_up() -> None:
    """Move everything alive now out of the collector's reach, once per process, and collect again
    from here on if the collector was on. The objects are unfrozen at exit, so that extension modules
    free theirs normally."""
    global _frozen
    if not _frozen:
        gc.freeze()
        atexit.register(gc.unfreeze)
        _frozen = True
    if _paused and _paused[-1]:
        gc.enable()
