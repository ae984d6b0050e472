"""Where segments run: in this process, in local worker processes, or on a Dask cluster.

Every backend runs the same :func:`~lfr_batch.pipeline.analyse_segment` on the
same tasks, so the reports do not depend on where the work was done.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

from lfr_batch.errors import ConfigError
from lfr_batch.pipeline import SegmentResult, SegmentTask, analyse_segment

logger = logging.getLogger(__name__)

SCHEDULER_ENV = "LFR_BATCH_SCHEDULER"


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
            yield analyse_segment(task, on_frames)
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


def _in_processes(
    tasks: Sequence[SegmentTask], workers: int, on_frames: Callable[[int], None]
) -> Iterator[SegmentResult]:
    # spawn, not fork: a forked child would inherit the parent's threads and locks.
    context = multiprocessing.get_context("spawn")
    with (
        _environment(WORKER_ENVIRONMENT),
        ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=context) as pool,
    ):
        pending: set[Future[SegmentResult]] = {pool.submit(analyse_segment, task) for task in tasks}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    result = future.result()
                    on_frames(result.frames_decoded)
                    yield result
        finally:
            for future in pending:
                future.cancel()


def _on_dask(
    tasks: Sequence[SegmentTask], scheduler: str, on_frames: Callable[[int], None]
) -> Iterator[SegmentResult]:
    from distributed import (
        Client,
        as_completed,
    )  # imported only for cluster runs: it is slow to load

    try:
        client = Client(scheduler, timeout="15s")
    except (OSError, TimeoutError) as error:
        raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
    with client:
        logger.info("Dask: %d workers at %s", len(client.scheduler_info()["workers"]), scheduler)
        futures = client.map(analyse_segment, list(tasks), pure=False)
        try:
            for future in as_completed(futures):
                result = future.result()
                on_frames(result.frames_decoded)
                yield result
        finally:
            client.cancel(futures)
