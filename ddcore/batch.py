"""Process many runs in parallel on a dask.distributed cluster.

Each task makes one run's target in its own worker process, writing to a shared zarr store
(a single run on a local cluster is instead cut into chunk ranges, ``ddcore.parallel``):
one writer per data type and run, parent groups created here first, so workers never race. A
task that raises or whose worker dies is retried (``retries``); data of a failed attempt are
never marked complete, so the retry overwrites them. Runs already stored are skipped.
"""

from __future__ import annotations

import time
import typing as ty

from ddcore.context import context


def make_one_run(detector: str, storage: str, preset: ty.Optional[str], options: dict, run_id: str,
                 targets: ty.Sequence[str], before_make: ty.Optional[ty.Callable[[str], None]] = None,
                 raw_data: ty.Optional[str] = None) -> dict:
    """Worker side: build the context, make the targets, say what was stored."""
    started = time.time()
    if before_make is not None:
        before_make(run_id)
    st = context(detector, storage=storage, preset=preset, raw_data=raw_data, **options)
    st.make(run_id, list(targets), progress_bar=False)
    return {
        "run_id": run_id,
        "keys": {t: str(st.key_for(run_id, t)) for t in targets},
        "seconds": round(time.time() - started, 2),
    }


def _made_in_chunk_ranges(st, run_id, targets, n_workers, results) -> bool:
    """One run left: use every worker on it (ddcore.parallel) where its source allows."""
    from ddcore.config import ConfigError
    from ddcore.parallel import make_run

    started = time.time()
    try:
        make_run(st, run_id, targets, workers=n_workers)
    except ConfigError:
        return False  # not cut into chunk ranges: one task on the cluster
    except Exception as e:
        results[run_id] = {"run_id": run_id, "status": "failed", "error": f"{type(e).__name__}: {e}"}
        return True
    results[run_id] = {"run_id": run_id, "status": "made", "seconds": round(time.time() - started, 2),
                       "keys": {t: str(st.key_for(run_id, t)) for t in targets}}
    return True


def make_runs(run_ids: ty.Sequence[str], targets, detector: ty.Optional[str] = None, storage=None,
              preset: ty.Optional[str] = None, options: ty.Optional[dict] = None,
              scheduler: ty.Optional[str] = None, n_workers: int = 2, retries: int = 2,
              before_make: ty.Optional[ty.Callable[[str], None]] = None, progress: bool = True,
              raw_data: ty.Optional[str] = None) -> list[dict]:
    """Make ``targets`` for ``run_ids`` on a dask cluster; returns one result dict per run.

    :param scheduler: address of a running dask scheduler; None starts a LocalCluster with
        ``n_workers`` single-threaded worker processes
    :param retries: extra attempts for a failed task (an exception or a dead worker)
    :param before_make: callable run in the worker with the run id before each make
    :param raw_data: a folder of raw data of other software to process the runs from
        (``ddcore.context(raw_data=...)``)
    """
    from distributed import Client, LocalCluster, as_completed

    targets = [targets] if isinstance(targets, str) else list(targets)
    options = dict(options or {})
    st = context(detector, storage=storage, preset=preset, raw_data=raw_data, **options)
    store = st.storage[0]
    results, todo = {}, []
    for run_id in run_ids:
        if all(st.is_stored(run_id, t) for t in targets):
            results[run_id] = {"run_id": run_id, "status": "already stored",
                               "keys": {t: str(st.key_for(run_id, t)) for t in targets}}
        else:
            if hasattr(store, "prepare_run"):
                store.prepare_run(run_id)
            todo.append(run_id)
    if not todo:
        return [results[r] for r in run_ids]
    if len(todo) == 1 and scheduler is None and n_workers > 1 and _made_in_chunk_ranges(
            st, todo[0], targets, n_workers, results):
        return [results[r] for r in run_ids]

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
    client = Client(scheduler or cluster)
    try:
        futures = {
            client.submit(make_one_run, detector, store.path, preset, options, run_id, targets,
                          before_make, raw_data, key=f"make-{run_id}-{'-'.join(targets)}", retries=retries,
                          pure=False): run_id
            for run_id in todo
        }
        iterator = as_completed(futures)
        if progress:
            from tqdm import tqdm

            iterator = tqdm(iterator, total=len(futures), desc=f"ddcore batch make {','.join(targets)}")
        for future in iterator:
            run_id = futures[future]
            try:
                results[run_id] = {**future.result(), "status": "made"}
            except Exception as e:  # reported per run; the others go on
                results[run_id] = {"run_id": run_id, "status": "failed",
                                   "error": f"{type(e).__name__}: {e}"}
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return [results[r] for r in run_ids]
