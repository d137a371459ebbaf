"""Blinding: the signal region of a run hidden from every read until an explicit, logged unblinding.

A run is blinded by recording it in its run metadata (``blinding``): the state, the data type
whose boolean field ``in_blinded_region`` marks the region (a detector's plugin provides it), and
the history of every action with its date, user and reason. While a run is blinded, every read
of its data of that data type's kind (``get_array``, ``get_df``, ``get_iter``, superruns holding
it) leaves out the events in the region; the stored data stay whole. Unblinding needs a reason
and is logged as a warning; it stays in the history, as the blinding does.
"""

import datetime
import getpass
import logging
import os

import numpy as np
import numpy.lib.recfunctions
import strax

REGION_FIELD = "in_blinded_region"
BLINDING_KEY = "blinding"
BLINDED, UNBLINDED = "blinded", "unblinded"

log = logging.getLogger(__name__)


class BlindingError(ValueError):
    pass


def state(st, run_id) -> dict | None:
    """The run's blinding record (``state``, ``region``, ``history``), or None if never blinded."""
    fields = [f"{BLINDING_KEY}.{k}" for k in ("state", "region", "history")]
    for store in st.storage:  # the stores only: a simulated run not made yet is not blinded
        if not getattr(store, "provide_run_metadata", False):
            continue
        try:
            document = store.run_metadata(run_id, projection=fields)
        except strax.RunMetadataNotAvailable:
            continue
        found = {k.split(".", 1)[1]: v for k, v in document.items() if k.startswith(BLINDING_KEY + ".")}
        return found or None
    return None


def blind(st, run_id, region: str) -> dict:
    """Blind ``run_id``: hide the events that ``region`` (a data type with the boolean field
    ``in_blinded_region``) marks from every read. Returns the record."""
    # the run's own plugin (strax's data_info configures one for run "0", which raw data from
    # other software need not hold)
    fields = st.get_single_plugin(run_id, region).dtype_for(region).names
    if REGION_FIELD not in fields:
        raise BlindingError(f"Data type {region!r} has no field {REGION_FIELD!r}: it cannot mark a blinded region")
    return _record(st, run_id, BLINDED, region, "blind", reason=None)


def unblind(st, run_id, reason: str) -> dict:
    """Unblind ``run_id`` (an explicit act: ``reason`` is required and logged). Returns the record."""
    current = state(st, run_id)
    if not current or current.get("state") != BLINDED:
        raise BlindingError(f"Run {run_id!r} is not blinded")
    if not reason or not str(reason).strip():
        raise BlindingError(f"Unblinding run {run_id!r} needs a reason (it is recorded in the run metadata)")
    record = _record(st, run_id, UNBLINDED, current["region"], "unblind", reason=str(reason).strip())
    log.warning("Run %s UNBLINDED by %s: %s", run_id, record["history"][-1]["user"], reason)
    return record


def _record(st, run_id, new_state, region, action, reason):
    writable = [sf for sf in st.storage if not sf.readonly and sf.provide_run_metadata]
    if not writable:
        raise BlindingError(f"No writable store holds the run metadata of {run_id!r}")
    if hasattr(st, "record_run_definition"):
        st.record_run_definition(run_id)  # a simulated run not made yet gets its document first
    previous = state(st, run_id) or {}
    entry = {"action": action, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
             "user": _user(), "region": region}
    if reason is not None:
        entry["reason"] = reason
    record = {"state": new_state, "region": region, "history": [*previous.get("history", []), entry]}
    store = writable[0]
    try:
        document = store.raw_run_metadata(run_id)
    except strax.RunMetadataNotAvailable:
        # a run whose raw data another program wrote: its blinding starts the project's document of it
        if not st.is_stored(run_id, "raw_records") and not _has_raw_data(st, run_id):
            raise BlindingError(f"Run {run_id!r} has no run metadata in {store} to record its blinding in") from None
        document = {"name": str(run_id)}
    document[BLINDING_KEY] = record
    store.write_run_metadata(run_id, document)
    log.info("Run %s %s (region: %s)", run_id, new_state, region)
    return record


def _has_raw_data(st, run_id) -> bool:
    """Whether the context reads ``run_id``'s raw records from a folder another program wrote."""
    try:
        from ddcore.raw_data import RAW_DATA_DIR_OPTION

        return bool(st.get_single_plugin(run_id, "raw_records").config.get(RAW_DATA_DIR_OPTION))
    except Exception:  # noqa: BLE001 - no such run or source: nothing to blind
        return False


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a name
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


def blinded_region(st, run_id) -> str | None:
    """The region data type hidden from reads of ``run_id`` (or of any run of a superrun), or None."""
    runs = [run_id]
    if str(run_id).startswith("_"):
        try:
            runs = list(st.run_metadata(run_id, projection=["sub_run_spec"]).get("sub_run_spec", {}))
        except strax.RunMetadataNotAvailable:
            runs = []
    for run in runs:
        record = state(st, run)
        if record and record.get("state") == BLINDED:
            return record["region"]
    return None


def hide_region(chunks, keep_field: bool):
    """The chunks less their events in the blinded region (the field itself dropped unless asked for)."""
    for chunk in chunks:
        data = chunk.data[~chunk.data[REGION_FIELD].astype(bool)]
        if not keep_field:
            names = [n for n in data.dtype.names if n != REGION_FIELD]
            data = np.lib.recfunctions.repack_fields(data[names])
        chunk.data = data
        chunk.dtype = data.dtype
        yield chunk
