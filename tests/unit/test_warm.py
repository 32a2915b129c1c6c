"""The dashboard's libraries are kept out of the garbage collector's sight, and Streamlit's
full collection after every script run is off."""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator

import pytest
from streamlit import config

from dashboard import warm


@pytest.fixture
def fresh_process_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run as if no freeze had happened in this process; unfreeze afterwards."""
    monkeypatch.setattr(warm, "_frozen", threading.Event())
    collect_after_runs = config.get_option("runner.postScriptGC")
    config.set_option("runner.postScriptGC", True)  # Streamlit's default
    gc.unfreeze()
    yield
    gc.unfreeze()
    config.set_option("runner.postScriptGC", collect_after_runs)


def test_it_imports_every_page_module_and_freezes_them(fresh_process_state: None) -> None:
    assert warm.freeze_libraries() is True

    assert all(name in sys.modules for name in warm.PAGE_MODULES)
    # The libraries' objects (well over 100,000 of them) are out of the collector's sight.
    assert gc.get_freeze_count() > 100_000


def test_it_freezes_once_per_process(fresh_process_state: None) -> None:
    warm.freeze_libraries()
    frozen = gc.get_freeze_count()
    made_since = [[i] for i in range(1_000)]  # objects of a later script run

    assert warm.freeze_libraries() is False
    # A second call freezes nothing more: what runs make later stays collectable.
    assert gc.get_freeze_count() == frozen
    assert made_since


def test_a_collection_after_the_freeze_walks_only_new_objects(fresh_process_state: None) -> None:
    warm.freeze_libraries()

    assert len(gc.get_objects()) < gc.get_freeze_count() / 10


def test_it_turns_off_streamlits_full_collection_after_every_run(fresh_process_state: None) -> None:
    assert config.get_option("runner.postScriptGC") is True

    warm.freeze_libraries()

    assert config.get_option("runner.postScriptGC") is False
