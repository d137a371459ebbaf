"""Within-run parallelism: one run made as consecutive chunk ranges in several processes.

strax processes a run chunk after chunk on one core (its per-chunk mode, ``chunk_number=``, is
refused for event-window plugins). A simulated run whose source declares ``independent_chunks``
(every chunk holds whole events, spaced so that no event window reaches across a chunk
boundary) can instead be cut into consecutive chunk ranges: each worker process makes the
targets of its range into a private store, with the same lineage as the whole run, and the main
process publishes every data type the workers stored as one group whose segments are the ranges
(``ddcore.storage.merge_segments``: folders are moved, no data are copied). The merged data are
the data a serial ``make`` stores (tested bit for bit); only where strax cut them into chunks
can differ.

Workers are forked from the main process, so the compiled numba kernels come with them (a
process that has imported TensorFlow spawns them instead: TensorFlow does not survive a fork); the
partial stores live in a hidden folder of the run in the main store and are removed afterwards,
also when a worker fails (nothing partial is ever published).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import typing as ty
from concurrent.futures import ProcessPoolExecutor

import strax

from ddcore.config import ConfigError
from ddcore.storage import ZarrStore, merge_segments

log = logging.getLogger(__name__)

PARTS_FOLDER_PREFIX = ".parts-"

# Part contexts by index, set before the worker processes fork (strax contexts do not pickle).
_PART_CONTEXTS: dict[int, strax.Context] = {}


def split_chunks(n_chunks: int, n_parts: int) -> list[list[int]]:
    """Consecutive, near-equal chunk ranges covering ``range(n_chunks)``; none empty."""
    n_parts = max(1, min(n_parts, n_chunks))
    bounds = [round(k * n_chunks / n_parts) for k in range(n_parts + 1)]
    return [list(range(a, b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _restricted_source(source: type, chunks: list[int]) -> type:
    """``source`` emitting only ``chunks``: the same class name, version and options, so the
    same lineage (what the part makes is stored under the keys of the whole run)."""

    def setup(self):
        source.setup(self)
        self.chunk_number = [c for c in chunks if c < self.n_chunks]

    return type(source.__name__, (source,), {"setup": setup, "__module__": source.__module__})


def _writable_zarr_store(st) -> ZarrStore:
    for frontend in st.storage:
        if isinstance(frontend, ZarrStore) and not frontend.readonly:
            return frontend
    raise ConfigError("Making a run in parallel needs a writable zarr store (storage=...)")


def _start_method() -> str:
    """Forked workers inherit the part contexts and compiled kernels; a process that has loaded
    TensorFlow cannot be forked safely (its thread pools do not survive), so then workers are
    spawned and rebuild their context."""
    if "tensorflow" in sys.modules or "fork" not in multiprocessing.get_all_start_methods():
        return "spawn"
    return "fork"


def _make_part(index: int, run_id: str, targets: tuple, rebuild: ty.Optional[dict] = None) -> float:
    """Worker side: make the targets of one chunk range. ``rebuild`` (a spawned worker) holds
    what it takes to build the part's context here, and the lineage hashes it must give."""
    started = time.time()
    if rebuild is None:
        part = _PART_CONTEXTS[index]
    else:
        from ddcore.context import context

        part = context(rebuild["detector"], storage=rebuild["storage"], preset=rebuild["preset"],
                       **rebuild["config"])
        source = part.simulated_source_for(run_id)
        part.register(_restricted_source(source, rebuild["chunks"]))
        for target, lineage_hash in rebuild["lineage_hashes"].items():
            if part.key_for(run_id, target).lineage_hash != lineage_hash:
                raise RuntimeError(
                    f"Run {run_id!r}: a spawned worker cannot rebuild the context of {target!r} (plugins "
                    "registered by hand?); make the run in a process that has not imported TensorFlow"
                )
    part.make(run_id, list(targets), progress_bar=False)
    return time.time() - started


def make_run(st, run_id: str, targets, workers: int = 2, parts: ty.Optional[int] = None) -> dict:
    """Make ``targets`` of one run with ``workers`` processes, each a consecutive chunk range.

    :param st: a ddcore context whose first writable frontend is a zarr store
    :param parts: number of chunk ranges (default: one per worker)
    :returns: {"parts": chunk ranges, "merged": data types published, "seconds": per part}
    :raises ConfigError: the run's source does not declare independent chunks (data not
        simulated here: make it with one worker)
    """
    targets = strax.to_str_tuple(targets)
    store = _writable_zarr_store(st)
    if all(st.is_stored(run_id, t) for t in targets):
        return {"parts": [], "merged": [], "seconds": []}
    plugins = {t: st.get_single_plugin(run_id, t) for t in targets}
    summaries = [t for t in targets if getattr(plugins[t], "run_summary", False)]
    if summaries:
        # a summary of the whole run is made from the merged data of what it depends on
        inputs = {d for t in summaries for d in strax.to_str_tuple(plugins[t].depends_on)}
        result = make_run(st, run_id, sorted(inputs | (set(targets) - set(summaries))), workers, parts)
        st.make(run_id, list(targets), progress_bar=False)
        return result
    source = st.simulated_source_for(run_id)
    source_plugin = None
    if source is not None:
        source_plugin = st.get_single_plugin(run_id, strax.to_str_tuple(source.provides)[0])
    if source_plugin is None or not source_plugin.independent_chunks:
        raise ConfigError(
            f"Run {run_id!r}: its data do not come from a source with independent chunks (a run "
            "simulated here), so it cannot be cut into chunk ranges: make it with one worker"
        )
    n_chunks = source_plugin.n_chunks
    ranges = split_chunks(n_chunks, parts or workers)
    if workers < 2 or len(ranges) < 2:
        st.make(run_id, list(targets), progress_bar=False)
        return {"parts": [list(range(n_chunks))], "merged": list(targets), "seconds": []}

    st.record_run_definition(run_id)
    config = {**st.run_defaults(run_id), **st.config}
    store.prepare_run(run_id)
    scratch = tempfile.mkdtemp(prefix=PARTS_FOLDER_PREFIX, dir=os.path.join(store.path, str(run_id)))
    expected = {t: st.key_for(run_id, t).lineage_hash for t in targets}
    try:
        part_stores = []
        for k, chunks in enumerate(ranges):
            part_store = ZarrStore(os.path.join(scratch, f"part{k}"))
            part = st.new_context(config=config)
            part.storage = [part_store]  # what a part makes goes to its own store only
            part.register(_restricted_source(source, chunks))
            for target, lineage_hash in expected.items():
                if part.key_for(run_id, target).lineage_hash != lineage_hash:
                    raise RuntimeError(f"Run {run_id!r}: a part of {target!r} would get another lineage")
            _PART_CONTEXTS[k] = part
            part_stores.append(part_store)
        spawn = _start_method() == "spawn"
        rebuild = [None] * len(ranges)
        if spawn:
            rebuild = [dict(detector=st.detector, preset=st.preset, config=config, storage=p.path,
                            chunks=chunks, lineage_hashes=expected) for p, chunks in zip(part_stores, ranges)]
        log.info("Run %s: making %s as %d chunk ranges of %d chunks on %d %s workers", run_id,
                 ", ".join(targets), len(ranges), n_chunks, min(workers, len(ranges)),
                 "spawned" if spawn else "forked")
        method = multiprocessing.get_context("spawn" if spawn else "fork")
        with ProcessPoolExecutor(max_workers=min(workers, len(ranges)), mp_context=method) as pool:
            futures = [pool.submit(_make_part, k, run_id, targets, rebuild[k]) for k in range(len(ranges))]
            seconds = [f.result() for f in futures]
        merged = _merge_parts(st, store, run_id, part_stores)
    finally:
        _PART_CONTEXTS.clear()
        shutil.rmtree(scratch, ignore_errors=True)
    log.info("Run %s: %s made as %d chunk ranges on %d workers (%s s)", run_id, ", ".join(targets),
             len(ranges), workers, ", ".join(f"{s:.1f}" for s in seconds))
    return {"parts": ranges, "merged": merged, "seconds": seconds}


def _merge_parts(st, store: ZarrStore, run_id: str, part_stores: list[ZarrStore]) -> list[str]:
    """Publish every data type all parts stored (same lineage) and the main store lacks."""
    merged = []
    for path in part_stores[0]._stored_paths(run_id):
        name = os.path.basename(path)
        data_type, _, lineage_hash = name.partition("-")
        paths = [os.path.join(p.path, str(run_id), name) for p in part_stores]
        if not all(os.path.isdir(p) for p in paths):
            log.warning("Run %s: %s was not stored by every part; not merged", run_id, data_type)
            continue
        counters = getattr(st.get_single_plugin(run_id, data_type), "run_counter_fields", ())
        if merge_segments(store.data_path(run_id, data_type, lineage_hash), paths, counters):
            merged.append(data_type)
    return merged
