"""Deterministic shutdown of loader iterators, thread pools and process groups; dead workers named.

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
from collections.abc import Iterator
from typing import Any

__all__ = ["WorkerDiedError", "close_all", "name_dead_workers", "register"]

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


# ------------------------------------------------------------------ dead workers
class WorkerDiedError(RuntimeError):
    """A DataLoader worker process died during an epoch (killed, out of memory, crashed).

    The message names the worker (index and pid, and how it ended) and how
    many batches were delivered before: those came in order, none skipped
    or repeated; the rest of the epoch was not delivered.
    """


def name_dead_workers(loader: Any, receive: Any) -> Iterator[Any]:
    """``receive(iter(loader))``, with torch's "worker exited unexpectedly" as :class:`WorkerDiedError`.

    ``loader``: a ``torch.utils.data.DataLoader`` (its iterator, which starts
    the workers, is made on the first ``next``).
    """
    delivered = 0
    torch_iterator = iter(loader)
    try:
        for batch in receive(torch_iterator):
            yield batch
            delivered += 1
    except RuntimeError as exc:
        if "DataLoader worker" not in str(exc) or isinstance(exc, WorkerDiedError):
            raise
        workers = list(getattr(torch_iterator, "_workers", []) or [])
        dead = []
        for i, w in enumerate(workers):
            code = getattr(w, "exitcode", None)
            if code not in (None, 0):
                how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
                dead.append(f"worker {i} (pid {w.pid}, {how})")
        who = ", ".join(dead) if dead else "a worker"
        raise WorkerDiedError(
            f"DataLoader {who} died during the epoch: {delivered} batches were delivered, in order, "
            "none skipped or repeated; the rest of the epoch was not. Iterate the loader again to "
            f"rerun the epoch (loader.set_epoch(...) chooses which). torch said: {exc}"
        ) from exc
