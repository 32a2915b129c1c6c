"""A queue for SQLite writers, so that they are woken when the write lock is free.

SQLite has one write lock per database file. A writer that finds it taken waits in SQLite's
busy handler, which sleeps with growing back-offs (up to 100 ms a try) instead of being woken
at the release; under 20 writers the lock is often free while the writers that want it sleep,
and a few of them wait seconds (issue 5: p95 2.3 s for saves of a few milliseconds).

So writers of one SQLite file queue before `BEGIN IMMEDIATE` and leave the queue after their
COMMIT or ROLLBACK:
  - threads of one process on a `threading.Lock` (no system call);
  - processes (the dashboard server, the command line, a second server) on an exclusive
    `flock` of a lock file beside the database, `<database>-writelock`, in which the kernel
    wakes a waiter as soon as the holder releases it, or dies: a crashed or killed process
    holds no lock.

The queue orders writers; it does not protect the data. SQLite's own lock still does that, and
its busy timeout stays as the backstop for writers outside the queue (the `sqlite3` shell, an
older copy of this program) and for a turn not granted in time: a writer that has waited
`wait_s` seconds (a holder stopped in a debugger, say) goes on to `BEGIN IMMEDIATE` without its
turn, as before the queue. A lock file that cannot be opened (a read-only folder) leaves only
the threads' queue.

A process forked while one of its threads holds a turn shares the lock file's open file with
its child, so the turn ends only when both have closed it (SQLAlchemy connections must not be
shared across a fork anyway); the child's own queue starts afresh.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_SUFFIX = "-writelock"


class Turn:
    """A writer's turn: the threads' lock, and the lock file held (or None). End it once."""

    def __init__(self, threads: threading.Lock, fd: int | None) -> None:
        self._threads: threading.Lock | None = threads
        self._fd = fd

    def end(self) -> None:
        """Release the lock file, then the threads' lock; a second call does nothing."""
        threads, self._threads = self._threads, None
        if threads is None:
            return
        try:
            if self._fd is not None:
                os.close(self._fd)  # the open file's only descriptor: the flock goes with it
        finally:
            threads.release()


class WriterQueue:
    """The queue of writers to one SQLite file, in this process (one per file: `for_database`)."""

    def __init__(self, lock_path: Path) -> None:
        self.lock_path = lock_path
        self._threads = threading.Lock()

    def wait_turn(self, wait_s: float) -> Turn | None:
        """Return this writer's turn once the writer before it has finished, or None after
        `wait_s` seconds (the caller then goes on without a turn)."""
        deadline = time.monotonic() + wait_s
        threads = self._threads  # the lock this turn releases, even if a fork replaces it
        if not threads.acquire(timeout=max(wait_s, 0.0)):
            self._gave_up(wait_s)
            return None
        try:
            fd = self._open()
            if fd is not None and not _flock(fd, deadline):
                self._gave_up(wait_s)
                threads.release()
                return None
        except BaseException:
            threads.release()
            raise
        return Turn(threads, fd)

    def _open(self) -> int | None:
        try:
            return os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as error:
            log.warning("cannot open %s (%s): writers of other processes are not queued",
                        self.lock_path, error)  # fmt: skip
            return None

    def after_fork_in_child(self) -> None:
        self._threads = threading.Lock()

    def _gave_up(self, wait_s: float) -> None:
        log.warning("no write turn on %s after %.1f s: going on without", self.lock_path, wait_s)


def _flock(fd: int, deadline: float) -> bool:
    """Take an exclusive flock of `fd` before `deadline`; return False (fd closed) if not."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        pass
    except OSError:
        os.close(fd)
        return False
    return _FlockWaiter(fd).wait(deadline - time.monotonic())


class _FlockWaiter:
    """A blocking flock in a helper thread, so that the waiter can give up at a deadline.

    The kernel wakes the blocked flock at the release (no polling); if the waiter has given up
    by then, the helper closes the file, which ends the turn it was granted.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._guard = threading.Lock()
        self._done = threading.Event()
        self._granted = False
        self._abandoned = False
        threading.Thread(target=self._block, name="il2tox-writer-queue", daemon=True).start()

    def _block(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            ok = True
        except OSError:
            ok = False
        with self._guard:
            self._granted = ok and not self._abandoned
            if not self._granted:
                os.close(self._fd)
            self._done.set()

    def wait(self, timeout: float) -> bool:
        self._done.wait(max(timeout, 0.0))
        with self._guard:
            if not self._done.is_set():
                self._abandoned = True
            return self._granted


class _Registry:
    """This process's queues, one per lock file."""

    def __init__(self) -> None:
        self.guard = threading.Lock()
        self.queues: dict[Path, WriterQueue] = {}

    def queue(self, lock_path: Path) -> WriterQueue:
        with self.guard:
            queue = self.queues.get(lock_path)
            if queue is None:
                queue = self.queues[lock_path] = WriterQueue(lock_path)
            return queue

    def after_fork_in_child(self) -> None:
        """Start afresh: a lock held by another thread of the parent would never be released."""
        self.guard = threading.Lock()
        for queue in self.queues.values():
            queue.after_fork_in_child()


_REGISTRY = _Registry()
os.register_at_fork(after_in_child=_REGISTRY.after_fork_in_child)


def for_database(database: str) -> WriterQueue:
    """Return this process's queue for the SQLite file `database` (a path)."""
    return _REGISTRY.queue(Path(os.path.realpath(database) + LOCK_SUFFIX))


__all__ = ["LOCK_SUFFIX", "Turn", "WriterQueue", "for_database"]
