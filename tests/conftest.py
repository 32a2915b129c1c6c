"""Fixtures for the whole suite."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from il2_tox.services import users


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> PasswordHasher:
    """Hash passwords with argon2id at a low cost in tests.

    The product's cost (about 0.3 s a hash, on purpose) would dominate the suite; the algorithm
    and every code path are the same. Servers started as subprocesses keep the real cost.
    """
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(users, "HASHER", hasher)
    return hasher
