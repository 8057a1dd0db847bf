"""How DataLoader workers start: the forkserver preload, reused spawn / forkserver workers.

What a worker costs to start depends on the start method:

* ``fork``: the worker is a copy of this process.  torch, this package and
  the compiled numba loops come with it: tens of milliseconds.
* ``spawn``: the worker is a fresh interpreter.  It imports torch, this
  package and the script's main module, and loads the numba loops from
  numba's cache before its first batch: 1.7 s on an idle 2-core machine,
  most of it torch's import, which no dataset design removes.
* ``forkserver`` (the Linux default from Python 3.14): workers are forked
  from a server process that Python starts once per program.  The server
  imports only what its *preload* list names (``set_forkserver_preload``).
  The default list, ``["__main__"]``, does not take effect for a script
  (CPython - 3.11, and the current source - hands the server the script's
  path under a key it does not read), so by default the server imports
  nothing and every worker pays spawn's cost; each worker also re-runs the
  script's top-level imports, as a spawned one does.

What :class:`~deepbiop_gpu.DataLoader` does about it:

1. **forkserver preload.**  A loader with workers and the forkserver start
   method adds :data:`PRELOAD_MODULE` to the server's preload list
   (:func:`preload_forkserver`, keeping the entries already there).  That
   module imports this package (hence torch) and loads the default collate
   loops, so every worker forked from the server starts about as fast as
   with ``fork``; only the server's one-time start pays the imports.  The list
   must be set *before* the server starts, i.e. before the first process is
   started with forkserver in this program.  If something else started the
   server earlier (a ``multiprocessing`` pool, say), the preload does not
   apply and the workers import on their own, as before: call
   :func:`preload_forkserver` at the top of the script to avoid that.
2. **reused workers.**  With ``spawn`` or ``forkserver`` and a dataset of
   this package, the loader keeps its worker processes from one epoch to the
   next (torch's ``persistent_workers=True``) unless ``persistent_workers``
   is passed: only the first epoch pays the start.  The batches are the same
   as fork's, epoch after epoch: a map-style epoch's shuffle and
   augmentations travel with each batch's indices, and a stream's epoch is
   handed to the workers in shared memory at the start of each pass.  As
   with torch's persistent workers, ``worker_init_fn`` runs once per worker
   (when the pool starts) rather than every epoch, and torch's per-worker
   seed (``torch.initial_seed()`` in a worker) stays that of the first
   epoch; this package's random ops do not use it (they are keyed on seed,
   epoch and read index).  Pass ``persistent_workers=False`` for a fresh
   pool each epoch.  The pool stops when the loader is garbage collected,
   when :meth:`~deepbiop_gpu.DataLoader.close` is called, and at the latest
   at interpreter exit (:mod:`deepbiop_gpu.data.shutdown`).

A new loader starts new workers (torch binds a pool to its loader); with the
forkserver preloaded that is fork-speed, with spawn it is a fresh interpreter
each time.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

__all__ = ["PRELOAD_MODULE", "preload_forkserver", "reuse_workers_by_default", "start_method"]

PRELOAD_MODULE = "deepbiop_gpu.data.forkserver_preload"
"""The module the forkserver imports: this package, torch, numba and the default collate loops."""

_REUSING_METHODS = ("spawn", "forkserver")


def start_method(context: Any = None) -> str:
    """The start method DataLoader workers will use with ``multiprocessing_context=context``.

    ``context``: None (the program's default), a method name, or a
    multiprocessing context.  Does not fix the default start method (a later
    ``multiprocessing.set_start_method`` still works).
    """
    if context is None:
        chosen = multiprocessing.get_start_method(allow_none=True)
        return chosen or multiprocessing.get_all_start_methods()[0]  # the first is the default
    if isinstance(context, str):
        return context
    get = getattr(context, "get_start_method", None)
    return str(get()) if callable(get) else ""


def _server() -> Any:
    from multiprocessing import forkserver

    return getattr(forkserver, "_forkserver", None)


def forkserver_running() -> bool:
    """Has this program's forkserver been started (so its preload list no longer applies)?"""
    server = _server()
    return server is not None and getattr(server, "_forkserver_pid", None) is not None


def preload_forkserver() -> bool:
    """Have the forkserver import this package, torch and the compiled loops once, for all workers.

    Adds :data:`PRELOAD_MODULE` to ``multiprocessing``'s forkserver preload
    list (entries already there stay).  Returns True when it takes effect,
    False when the server is already running (or there is no forkserver on
    this platform): workers then import on their own, as they would anyway.
    :class:`~deepbiop_gpu.DataLoader` calls it for loaders with forkserver
    workers; call it yourself at the top of a script that starts the
    forkserver before its first loader.

    Examples
    --------
    >>> import deepbiop_gpu as dg
    >>> if __name__ == "__main__":  # first thing in a script that starts the forkserver itself
    ...     dg.preload_forkserver()  # doctest: +SKIP
    True
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return False
    from multiprocessing import forkserver

    server = _server()
    current = list(getattr(server, "_preload_modules", None) or ["__main__"])
    if PRELOAD_MODULE not in current:
        forkserver.set_forkserver_preload(current + [PRELOAD_MODULE])
    return not forkserver_running()


def reuse_workers_by_default(method: str, torch_kwargs: dict, epoch_travels: bool) -> bool:
    """Should a loader keep its workers across epochs though the caller did not ask?

    Yes for ``spawn`` and ``forkserver`` workers when the caller left
    ``persistent_workers`` unset and the epoch reaches persistent workers
    (``epoch_travels``: the loader's own batch sampler, or a stream of this
    package); see the module docstring.
    """
    return method in _REUSING_METHODS and "persistent_workers" not in torch_kwargs and epoch_travels
