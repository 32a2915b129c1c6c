"""Keep Python's garbage collector off what lives as long as the server process.

Streamlit runs a full garbage collection (`gc.collect(2)`, its `runner.postScriptGC`) after
every script run, fragment reruns included: the chart's 2 s poll, the ward's 5 s poll, the
sidebar's idle check. A full collection walks every object the process holds, with the GIL
held, so meanwhile the server sends nothing and starts no other run. With the dashboard's
libraries imported (plotly, pandas, pyarrow, SQLAlchemy, the PDF sheets) that is about 180,000
objects and 150 ms of CPU per run, against 73,000 objects and 55 ms for Streamlit alone
(docs/benchmarks.md, "Dashboard pages").

`freeze_libraries` imports what the pages use, once per process, and moves every object then
alive (modules, classes, functions: nothing of any user or session) into the collector's
permanent generation (`gc.freeze()`). Reference counting still frees frozen objects; only a
frozen reference cycle would never be collected, and import-time objects are not garbage.

It then turns Streamlit's collection after every run off (`runner.postScriptGC`): even with
the libraries frozen it walked what the caches hold (the ward's and charts' snapshots) on every
run, 20-35 ms with the GIL held, and a bare Streamlit page spends most of its navigation in it.
Python's own generational collector still runs as objects are allocated, so reference cycles
are collected as in any Python program; what a run leaves without a cycle is freed at once by
reference counting. The server's memory over many runs is measured in docs/benchmarks.md.
"""

from __future__ import annotations

import gc
import importlib
import threading

from streamlit import config

# Everything the pages import that is not already imported by the entry point: importing it
# here, before the freeze, is what keeps it out of every later collection.
PAGE_MODULES = (
    "pandas",
    "plotly.graph_objects",
    "dashboard.admission_form",
    "dashboard.charts",
    "dashboard.corrections_form",
    "dashboard.entry_form",
    "dashboard.flag_forms",
    "dashboard.sheets",
    "dashboard.snapshots",
    "il2_tox.services.audit",
    "il2_tox.services.observation_import",
)

_lock = threading.Lock()
_frozen = threading.Event()


def freeze_libraries() -> bool:
    """Import the pages' modules and freeze every object alive, once per process.

    Return True if this call froze (the first), False if an earlier call already had. Safe
    from several sessions' script threads at once.
    """
    with _lock:
        if _frozen.is_set():
            return False
        for name in PAGE_MODULES:
            importlib.import_module(name)
        gc.collect()  # what is already garbage is freed, not frozen
        gc.freeze()
        # No full collection after every script run: see the module's docstring.
        config.set_option("runner.postScriptGC", False)
        _frozen.set()
        return True
