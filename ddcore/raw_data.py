"""Raw data written by other software: strax-format data in a ``strax.DataDirectory`` folder, as
straxen, WFSim, fuse or a DAQ writes it, under whatever lineage the writer gave it.

``ddcore.context(detector, raw_data=PATH)`` registers :class:`StoredRawRecords` in place of the
detector's own ``raw_records`` (and :class:`StoredTruth` where the folder holds WFSim/fuse
``truth``). The folder is only read; everything made from it goes to the context's store.

The derived data's lineage names the source: the option ``raw_data_source`` of the reader is set
per run (``DDContext.run_defaults``) to the source's lineage hash and the SHA-256 of its metadata
file, so two sources under one run name never share results, and a source re-written after
processing is processed again. Whatever the folder holds is checked as it is read, with errors
naming the run, the file and the field or row: missing fields, a dtype not strax's, a failed or
unfinished write, truncated chunk files, unsorted records, records of one channel overlapping.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import typing as ty
from ast import literal_eval

import numpy as np
import strax

from ddcore.plugins import DDPlugin

RAW_DATA_DIR_OPTION = "raw_data_dir"
RAW_DATA_SOURCE_OPTION = "raw_data_source"
RAW_RECORD_FIELDS = ("time", "length", "dt", "channel", "pulse_length", "record_i", "baseline", "data")


class RawDataError(ValueError):
    """Raw data from another program that cannot be used as they are."""


def stored_folder(directory: str, run_id: str, data_type: str) -> str:
    """The folder of ``data_type`` of ``run_id`` in a strax DataDirectory (one lineage)."""
    folders = sorted(p for p in glob.glob(os.path.join(glob.escape(directory), f"{run_id}-{data_type}-*"))
                     if os.path.isdir(p))
    finished = [p for p in folders if not p.endswith("_temp")]
    if not finished:
        if folders:
            raise RawDataError(f"Run {run_id!r}: {data_type} in {directory} is still being written or its "
                               f"writer stopped ({os.path.basename(folders[0])})")
        raise RawDataError(f"Run {run_id!r}: no {data_type} in {directory} (strax folders are named "
                           f"<run>-{data_type}-<lineage hash>)")
    if len(finished) > 1:
        hashes = ", ".join(os.path.basename(p).rsplit("-", 1)[-1] for p in finished)
        raise RawDataError(f"Run {run_id!r}: {directory} holds {data_type} of several lineages ({hashes}): "
                           "keep one per run in the folder")
    return finished[0]


def _metadata_file(folder: str) -> str:
    found = glob.glob(os.path.join(glob.escape(folder), "*-metadata.json"))
    if len(found) != 1:
        raise RawDataError(f"{folder}: expected one strax metadata file (*-metadata.json), found {len(found)}")
    return found[0]


def read_metadata(directory: str, run_id: str, data_type: str) -> tuple[str, dict]:
    """(metadata file, metadata) of a finished, complete write; RawDataError otherwise."""
    path = _metadata_file(stored_folder(directory, run_id, data_type))
    try:
        with open(path, encoding="utf-8") as f:
            metadata = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RawDataError(f"Run {run_id!r}: {path} is not valid JSON ({e})") from None
    if "exception" in metadata:
        raise RawDataError(f"Run {run_id!r}: the writer of {path} failed ({metadata['exception']})")
    if "writing_ended" not in metadata:
        raise RawDataError(f"Run {run_id!r}: {path} has no 'writing_ended': the write did not finish")
    for key in ("dtype", "compressor", "chunks", "lineage_hash"):
        if key not in metadata:
            raise RawDataError(f"Run {run_id!r}: {path} lacks {key!r}; not strax metadata")
    return path, metadata


def metadata_stamp(directory: str, run_id: str, data_type: str = "raw_records") -> tuple:
    """(path, modification time, size) of the run's metadata files: changes when the source is
    written again."""
    paths = sorted(glob.glob(os.path.join(glob.escape(directory), f"{run_id}-{data_type}-*", "*-metadata.json")))
    return tuple((p, os.stat(p).st_mtime_ns, os.stat(p).st_size) for p in paths)


def source_identity(directory: str, run_id: str, data_type: str = "raw_records") -> str:
    """What the lineage holds of the source: its lineage hash and its metadata file's SHA-256
    (which lists every chunk's size, rows and times)."""
    path, metadata = read_metadata(directory, run_id, data_type)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return f"{metadata['lineage_hash']}:sha256:{digest[:20]}"


def stored_dtype(metadata: dict, where: str, required: ty.Sequence[str] = ()) -> np.dtype:
    try:
        dtype = np.dtype(literal_eval(metadata["dtype"]))
    except (ValueError, SyntaxError, TypeError) as e:
        raise RawDataError(f"{where}: dtype {metadata['dtype']!r} is not a numpy dtype ({e})") from None
    missing = [name for name in required if name not in (dtype.names or ())]
    if missing:
        raise RawDataError(f"{where}: the data lack the field(s) {', '.join(missing)} (have "
                           f"{', '.join(dtype.names or ())})")
    return dtype


class _StoredData(DDPlugin):
    """A source plugin serving one data type of a run from a strax DataDirectory, chunk by chunk
    as it was written."""

    __version__ = "0.1.0"
    depends_on = ()
    rechunk_on_save = False
    save_when = strax.SaveWhen.NEVER  # the source holds them: no copy in the store
    required_fields: tuple[str, ...] = ()

    raw_data_dir = strax.Config(
        default="", type=str, track=False,
        help="strax DataDirectory folder with the raw data of other software (read only); set by "
        "ddcore.context(raw_data=...) or --raw-data")
    raw_data_source = strax.Config(
        default="", type=str,
        help="The source data of the run: their lineage hash and the SHA-256 of their metadata file "
        "(set per run by the context: derived data name their source)")

    @property
    def data_type(self) -> str:
        return strax.to_str_tuple(self.provides)[0]

    def _metadata(self):
        if not self.raw_data_dir:
            raise RawDataError(f"Run {self.run_id!r}: {self.data_type} come from raw data of other software: "
                               "give the folder (ddcore.context(raw_data=...) or --raw-data)")
        return read_metadata(self.raw_data_dir, self.run_id, self.data_type)

    def infer_dtype(self):
        path, metadata = self._metadata()
        return stored_dtype(metadata, f"Run {self.run_id!r}: {path}", self.required_fields)

    def setup(self):
        self.metadata_path, self.metadata = self._metadata()
        # the run's identity is its raw_records' (truth written beside them belongs to them)
        now = source_identity(self.raw_data_dir, self.run_id)
        if self.raw_data_source and self.raw_data_source != now:
            raise RawDataError(f"Run {self.run_id!r}: {self.metadata_path} changed since this context computed "
                               "the lineage: make a new context")
        self.folder = os.path.dirname(self.metadata_path)
        self.last_time = None

    def is_ready(self, chunk_i):
        return chunk_i < len(self.metadata["chunks"])

    def source_finished(self):
        return True

    def compute(self, chunk_i):
        info = self.metadata["chunks"][chunk_i]
        path = os.path.join(self.folder, info["filename"])
        where = f"Run {self.run_id!r}, {self.data_type} chunk {chunk_i} ({path})"
        if not os.path.isfile(path):
            raise RawDataError(f"{where}: the chunk file is missing")
        if os.path.getsize(path) != info.get("filesize", os.path.getsize(path)):
            raise RawDataError(f"{where}: {os.path.getsize(path)} bytes, the metadata say {info['filesize']}: "
                               "the file is truncated or was changed")
        try:
            data = strax.load_file(path, compressor=self.metadata["compressor"], dtype=self.dtype)
        except Exception as e:
            raise RawDataError(f"{where}: cannot be read ({type(e).__name__}: {e})") from None
        if len(data) != info["n"]:
            raise RawDataError(f"{where}: {len(data)} rows, the metadata say {info['n']}")
        self.check(data, where)
        return self.chunk(start=info["start"], end=info["end"], data=data)

    def check(self, data, where):
        """Sorted by time, also across chunks (strax's order)."""
        if not len(data):
            return
        unsorted = np.flatnonzero(np.diff(data["time"]) < 0)
        if len(unsorted):
            raise RawDataError(f"{where}: not sorted by time at row {unsorted[0] + 1}")
        if self.last_time is not None and data["time"][0] < self.last_time:
            raise RawDataError(f"{where}: its first row starts before the last row of the previous chunk")
        self.last_time = data["time"][-1]


class StoredRawRecords(_StoredData):
    """``raw_records`` that another program wrote (strax's raw_record_dtype)."""

    provides = "raw_records"
    data_kind = "raw_records"
    required_fields = RAW_RECORD_FIELDS

    def check(self, data, where):
        super().check(data, where)
        overlap = _first_overlap(np.asarray(data["time"]), np.asarray(data["length"]), np.asarray(data["dt"]),
                                 np.asarray(data["channel"]))
        if overlap >= 0:
            raise RawDataError(f"{where}: row {overlap} (channel {data['channel'][overlap]}) starts before the "
                               "previous record of its channel ends: records overlap")


class StoredTruth(_StoredData):
    """The simulator's ``truth`` (WFSim, fuse) beside the raw records, as it wrote it."""

    provides = "truth"
    data_kind = "truth"
    required_fields = ("time", "endtime")


def _first_overlap(time, length, dt, channel) -> int:
    """Row of the first record starting before the previous record of its channel ends; -1."""
    order = np.lexsort((time, channel))
    t, c = time[order], channel[order]
    end = t + length[order].astype(np.int64) * dt[order]
    bad = np.flatnonzero((c[1:] == c[:-1]) & (t[1:] < end[:-1]))
    return int(order[bad[0] + 1]) if len(bad) else -1


def readers(directory: str) -> list[type]:
    """The reader plugins a raw-data folder needs: raw_records, and truth where it holds any."""
    if not os.path.isdir(directory):
        raise RawDataError(f"Raw data folder {directory} does not exist")
    found = [StoredRawRecords]
    if glob.glob(os.path.join(glob.escape(directory), "*-truth-*")):
        found.append(StoredTruth)
    return found
