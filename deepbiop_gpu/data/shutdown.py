"""Deterministic shutdown of loader iterators, thread pools and process groups.

Why this exists: a ``torchrun`` job that exits while a ``gloo`` worker
thread still holds the last reference to a tensor aborts at interpreter
exit with ``terminate called without an active exception`` (SIGABRT).  The
C++ thread has to take the GIL to free the tensor's Python object, the
interpreter is already finalising, so CPython ends the thread with
``pthread_exit``, whose forced unwind through a ``noexcept`` C++ frame calls
``std::terminate``.  It happens whenever the process group outlives
``main()`` - e.g. ``destroy_process_group()`` was called while a
``DistributedDataParallel`` model still held the group, so the group and its
worker threads were only freed (if at all) during finalisation - and only
when the worker thread loses the race, about one exit in twenty.

The remedy is to finish everything while the interpreter is still whole:

* iterators of :class:`~deepbiop_gpu.DataLoader` are registered here and
  closed (their thread pools joined, their file readers closed) when they
  are garbage collected, when a loop breaks out early and the iterator is
  dropped, and at the latest from an :mod:`atexit` hook;
* the same hook then collects garbage (freeing a DDP model left in a
  reference cycle, and with it the last reference to its process group,
  whose destructor joins the gloo threads) and destroys a default process
  group the script left initialised.

``atexit`` hooks run before finalisation, so the threads are joined while
they can still take the GIL.
"""

from __future__ import annotations

import atexit
import gc
import threading
import weakref
from typing import Any

__all__ = ["close_all", "register"]

_LIVE: weakref.WeakSet = weakref.WeakSet()
_LOCK = threading.Lock()
_REGISTERED = False


def register(obj: Any) -> Any:
    """Close ``obj`` (it has a ``close()`` method) at exit if it is still alive; returns it."""
    global _REGISTERED
    with _LOCK:
        _LIVE.add(obj)
        if not _REGISTERED:
            atexit.register(close_all)
            _REGISTERED = True
    return obj


def _process_group_cleanup() -> None:
    dist = __import__("torch").distributed
    if not (dist.is_available() and dist.is_initialized()):
        return
    try:
        dist.destroy_process_group()
    except Exception:  # noqa: BLE001 - best effort at exit; a broken group must not mask the script's result
        pass


def close_all() -> None:
    """Close every registered iterator, collect garbage, destroy a leftover process group.

    Registered with :mod:`atexit` by the first :class:`~deepbiop_gpu.DataLoader`
    iterator; safe to call more than once.
    """
    with _LOCK:
        live = list(_LIVE)
    for obj in live:
        try:
            obj.close()
        except Exception:  # noqa: BLE001 - closing at exit is best effort
            pass
    gc.collect()  # frees DDP models in reference cycles, hence their process groups
    if __import__("sys").modules.get("torch.distributed") is not None:
        _process_group_cleanup()
        gc.collect()
