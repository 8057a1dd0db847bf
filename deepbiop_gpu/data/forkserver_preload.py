"""Imported once by the forkserver (see :mod:`deepbiop_gpu.data.worker_start`), never by users.

Importing it imports this package (hence torch) and loads the default collate
loops (numba's start-up and its cached machine code, about half a second),
so that every DataLoader worker forked from the server has them already.
Nothing here starts a thread: a server with threads must not fork.  Any
failure is swallowed (the forkserver only tolerates ``ImportError``); the
workers then load what they need themselves.
"""

from __future__ import annotations


def _preload() -> None:
    try:
        from deepbiop_gpu.data.collate import default_collate
        from deepbiop_gpu.data.loader import _warm_up

        _warm_up(None, default_collate, None)  # two made-up reads: no threads, no thread pools
    except Exception:  # noqa: BLE001 - an optimisation only
        pass


_preload()
