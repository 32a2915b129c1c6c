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
permanent generation (`gc.freeze()`). Later collections walk only what was made since.
Reference counting still frees frozen objects; only a frozen reference cycle would never be
collected, and import-time objects are not garbage.
"""

from __future__ import annotations

import gc
import importlib
import threading

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
        _frozen.set()
        return True
