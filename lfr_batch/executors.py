"""Where segments run: in this process, in local worker processes, or on a Dask cluster.

Every backend runs the same :func:`analyse` on the same tasks, so the reports do not
depend on where the work was done. :func:`analyse` is where a worker loads what a task
names (the watchlist, once per process) and hands it to the vision pipeline, which
reads no file but the video.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from datetime import datetime
from pathlib import Path
from typing import Any

from lfr_batch.errors import ConfigError, WatchlistError
from lfr_batch.signing import signing_key
from lfr_batch.vision.matches import WatchlistMatcher
from lfr_batch.vision.pipeline import (
    AnalysisSettings,
    SegmentResult,
    SegmentTask,
    analyse_segment,
    evidence_ceilings,
)
from lfr_batch.watchlist.model import Watchlist
from lfr_batch.watchlist.store import load_watchlist

logger = logging.getLogger(__name__)


def file_stamp(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_size, status.st_mtime_ns


@functools.lru_cache(maxsize=2)
def shared_watchlist(path: str, stamp: tuple[int, int], key: bytes | None) -> Watchlist:
    """A watchlist loaded once per process and key (the scan and its inline work share it)."""
    if file_stamp(Path(path)) != stamp:
        raise WatchlistError(f"watchlist {path} changed while the scan was running")
    return load_watchlist(Path(path), key)


@functools.lru_cache(maxsize=2)
def shared_matcher(
    path: str, stamp: tuple[int, int], fixed_threshold: float | None, max_rate: float, at: datetime
) -> WatchlistMatcher:
    """One matcher per process and watchlist, reused by every task: each subject held
    against its ceiling (:func:`~lfr_batch.vision.pipeline.evidence_ceilings`)."""
    watchlist = shared_watchlist(path, stamp, signing_key())
    return WatchlistMatcher(watchlist, evidence_ceilings(watchlist, fixed_threshold, max_rate), at)


def settings_matcher(settings: AnalysisSettings) -> WatchlistMatcher:
    return shared_matcher(
        settings.watchlist,
        settings.watchlist_stamp,
        settings.fixed_threshold,
        settings.max_false_alert_rate,
        settings.scanned_at,
    )


def analyse(task: SegmentTask, on_frames: Callable[[int], None] | None = None) -> SegmentResult:
    """One task, in whichever process runs it: its watchlist's matcher, then the pipeline."""
    return analyse_segment(task, settings_matcher(task.settings), on_frames)


def run_segments(
    tasks: Sequence[SegmentTask],
    workers: int,
    scheduler: str | None,
    on_frames: Callable[[int], None],
) -> Iterator[SegmentResult]:
    """Yield each task's result as it completes; ``on_frames`` hears of frames decoded."""
    if scheduler:
        yield from _on_dask(tasks, scheduler, on_frames)
    elif workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield analyse(task, on_frames)
    else:
        yield from _in_processes(tasks, workers, on_frames)


# Each worker is one busy process per core: a BLAS thread pool inside it would only
# fight the other workers for the cores (Dask's nanny sets the same for its workers).
WORKER_ENVIRONMENT = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the child processes started inside the block."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


WATCHDOG_INTERVAL_S = 1.0


def _die_with_parent(parent_pid: int) -> None:
    """End this worker when the scan that started it ends, however
    it ends (a nightly job killed by a timeout would otherwise leave its workers idle
    for ever). Linux signals the worker as its parent dies; a watchdog thread covers
    other systems and the moment before the signal was asked for."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(WATCHDOG_INTERVAL_S)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


PR_SET_PDEATHSIG = 1

# In a worker: the scan's event, set once the scan stops before its tasks are done.
_scan_stopped: Any = None


def _start_worker(parent_pid: int, scan_stopped: Any, takes_ctrl_c: bool) -> None:
    """Worker initialiser. The worker began with Ctrl-C held back (:func:`_ctrl_c_held`),
    so that a Ctrl-C while it loaded its libraries did not kill it halfway with a
    traceback: one held back is dropped here (the scan had it too, and stops). From here
    on Ctrl-C interrupts its task, as it does the scan, unless the scan itself was
    started with Ctrl-C ignored (a script's background job)."""
    global _scan_stopped
    _scan_stopped = scan_stopped
    _die_with_parent(parent_pid)
    if hasattr(signal, "pthread_sigmask"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # drops a pending one
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if takes_ctrl_c:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _analyse_in_worker(task: SegmentTask) -> SegmentResult:
    if _scan_stopped is not None and _scan_stopped.is_set():
        # Interrupted while this worker started: the tasks already queued for it are not begun.
        raise KeyboardInterrupt
    return analyse(task)


@contextlib.contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Processes started inside the block begin with Ctrl-C blocked (a signal mask is
    kept across exec). The scan holds a Ctrl-C back for the milliseconds the block
    takes, whichever of its threads the signal reaches, and takes it as the block ends:
    none is lost, and none stops a worker's start halfway."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    deferred = previous is not None and threading.current_thread() is threading.main_thread()
    if deferred:
        signal.signal(signal.SIGINT, lambda number, _frame: held.append(number))
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        if deferred:
            signal.signal(signal.SIGINT, previous)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if held:
            signal.raise_signal(signal.SIGINT)


def _in_processes(
    tasks: Sequence[SegmentTask], workers: int, on_frames: Callable[[int], None]
) -> Iterator[SegmentResult]:
    # spawn, not fork: a forked child would inherit the parent's threads and locks.
    context = multiprocessing.get_context("spawn")
    scan_stopped = context.Event()
    takes_ctrl_c = signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
    with (
        _environment(WORKER_ENVIRONMENT),
        ProcessPoolExecutor(
            max_workers=min(workers, len(tasks)),
            mp_context=context,
            initializer=_start_worker,
            initargs=(os.getpid(), scan_stopped, takes_ctrl_c),
        ) as pool,
    ):
        pending: set[Future[SegmentResult]] = set()
        try:
            with _ctrl_c_held():  # each submit starts a worker until there are max_workers
                pending = {pool.submit(_analyse_in_worker, task) for task in tasks}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    result = future.result()
                    on_frames(result.frames_decoded)
                    yield result
        finally:
            scan_stopped.set()
            for future in pending:
                future.cancel()


SCHEDULER_TIMEOUT = "15s"


@contextlib.contextmanager
def _client(scheduler: str) -> Iterator[Any]:
    """A Dask client, or one line saying why the address is no Dask scheduler."""
    from distributed import Client  # imported only for cluster runs: it is slow to load

    try:
        client = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
    except (OSError, TimeoutError, ValueError, TypeError) as error:
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: {reason}") from None
    except MemoryError:
        # Dask read another service's first bytes as the length of a message.
        raise ConfigError(f"{scheduler} answers, but not as a Dask scheduler") from None
    with client:
        yield client


def check_scheduler(scheduler: str) -> None:
    """Connect once before anything is written or cleared, so a wrong address loses nothing."""
    with _client(scheduler):
        pass


def _on_dask(
    tasks: Sequence[SegmentTask], scheduler: str, on_frames: Callable[[int], None]
) -> Iterator[SegmentResult]:
    from distributed import as_completed

    with _client(scheduler) as client:
        logger.info("Dask: %d workers at %s", len(client.scheduler_info()["workers"]), scheduler)
        futures = client.map(analyse, list(tasks), pure=False)
        try:
            for future in as_completed(futures):
                result = future.result()
                on_frames(result.frames_decoded)
                yield result
        finally:
            client.cancel(futures)
