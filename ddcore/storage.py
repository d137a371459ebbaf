"""Zarr storage for strax: a StorageFrontend, StorageBackend and Saver.

Layout::

    <root>/<run_id>/run_metadata.json               run document (start, end, source, definition)
    <root>/<run_id>/<data_type>-<lineage_hash>/     zarr group, one per stored data type
        .zattrs                                     {"strax_metadata": {...strax metadata...}}
        <field>/                                    one appendable zarr array per dtype field
        segment_<k>/<field>/                        or: parts made in parallel (merge_segments)

A field with a subarray dtype (``float32[75, 75, 3]``) becomes an N-dimensional array of shape
``(rows, 75, 75, 3)``. Each chunk's rows are located by ``row_start``/``n`` in its chunk info
(``_read_chunk`` receives no metadata). Every zarr chunk file carries a CRC-32 of its compressed
bytes (``ChecksummedBlosc``), checked when it is read; groups written before this codec carry a
CRC-32 of every field's bytes per strax chunk in the chunk info, checked too. A run made as
several chunk ranges in parallel (``ddcore.parallel``) keeps each range's arrays as a segment;
the chunk info names the segment, so merging moves folders and writes metadata, copying no data.

A data type whose plugin asks strax to gather its small chunks into saved chunks of
``chunk_target_size_mb`` (``rechunk_on_save``) has them gathered here, in the chunk infos: the
rows go to the arrays as they come and consecutive chunk infos are merged up to that size
(metadata ``GATHERED_IN_STORE``; ``ddcore.plugins.DDPlugin`` sets it and tells strax not to
rechunk). strax's own rechunking holds the gathered chunk in memory and copies it on every
chunk: with several small-row types saved, tens of MB that grew over a long run.

Writers never touch published data: a saver writes ``<group>.writing-<host>-<pid>-<id>/`` and
renames it to ``<group>/`` only on a clean close (as strax's ``DataDirectory`` does with
``_temp``). A crash, an exception or a killed process leaves only the temporary folder, which
readers never see and the next writer of that key removes once its process is gone. When two
processes make the same data at once, the first to finish publishes and the other discards its
identical copy. On load, row counts are checked against the arrays, the chunk files a chunk needs
must exist and every chunk file must match its checksum; a missing, truncated or altered chunk
raises ``strax.DataCorrupted`` naming run, data type, lineage, field and path.

All zarr calls of the project live in this module.
"""

from __future__ import annotations

import datetime
import json
import typing as ty
import logging
import os
import shutil
import socket
import uuid
import zlib
from ast import literal_eval

import numcodecs
import numpy as np
import strax
import zarr

from ddcore.codec import ChecksummedBlosc, ChecksumMismatch
from ddcore.config import ConfigError

METADATA_ATTR = "strax_metadata"
RUN_METADATA_FILE = "run_metadata.json"
WRITING_MARK = ".writing-"
REPLACED_MARK = ".replaced-"
TARGET_ZARR_CHUNK_BYTES = 4_000_000
# strax chunks after which a saver writes out the waiting rows of a partly filled zarr chunk: a
# field of a few bytes per event fills its 4 MB zarr chunk only after ~10^6 events, so without a
# bound the waiting rows grew with run length
PENDING_CHUNKS_LIMIT = 8
BLOSC_BLOCK_BYTES = 1 << 20
# metadata key: True when the saver gathers consecutive strax chunks into stored chunks of up to
# the metadata's chunk_target_size_mb (in place of strax's rechunking in memory)
GATHERED_IN_STORE = "chunks_gathered_in_store"
RUN_TIME_FIELDS = ("start", "end")

log = logging.getLogger(__name__)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"Cannot store {type(value).__name__} {value!r} in zarr attributes")


def _jsonable(document):
    """What the document looks like after a JSON round trip (tuples become lists)."""
    return json.loads(json.dumps(document, default=_json_default))


def _field_compressor(dtype):
    # Byte shuffle hurts float images (~13x vs ~35x with zstd alone); integers gain from it.
    # Level 1: twice as fast as 3 on every field; raw_records come out smaller (3.9x vs 3.7x),
    # images ~20% larger. 1 MB Blosc blocks instead of Blosc's default (tens of kB at level 1):
    # one core, 2,000 events: raw_records' samples decode in 0.24 s instead of 0.39 s (ratio
    # 4.4x vs 4.0x), the hit-and-peak images encode in 0.11 s instead of 0.19 s (22x vs 21x).
    shuffle = numcodecs.Blosc.NOSHUFFLE if dtype.kind == "f" else numcodecs.Blosc.SHUFFLE
    return ChecksummedBlosc(cname="zstd", clevel=1, shuffle=shuffle, blocksize=BLOSC_BLOCK_BYTES)


def _field_layout(dtype):
    """[(name, base dtype, subarray shape)] for each field of a (possibly titled) strax dtype."""
    layout = []
    for name in dtype.names:
        field_dtype = dtype.fields[name][0]
        if field_dtype.subdtype is not None:
            base, shape = field_dtype.subdtype
        else:
            base, shape = field_dtype, ()
        layout.append((name, np.dtype(base), tuple(shape)))
    return layout


def _is_group(path):
    return os.path.isfile(os.path.join(path, ".zgroup"))


def _describe(path):
    """'run R, data type D, lineage L (path)' for error messages."""
    run_id = os.path.basename(os.path.dirname(path))
    data_type, _, lineage_hash = os.path.basename(path).partition("-")
    return f"run {run_id!r}, data type {data_type!r}, lineage {lineage_hash!r} ({path})"


def field_checksum(values) -> int:
    """CRC-32 of a field's bytes, as stored in the chunk info of groups written before
    ``ChecksummedBlosc``."""
    return zlib.crc32(np.ascontiguousarray(values).view(np.uint8))


def _process_alive(host, pid):
    if host != socket.gethostname():
        return True  # cannot tell: keep it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(path):
    """Remove temporary folders of writers of ``path`` whose process has ended."""
    parent, name = os.path.split(path)
    if not os.path.isdir(parent):
        return
    for entry in os.listdir(parent):
        if not entry.startswith(name + WRITING_MARK) and not entry.startswith(name + REPLACED_MARK):
            continue
        if REPLACED_MARK in entry:
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)
            continue
        try:
            host, pid, _ = entry[len(name + WRITING_MARK):].rsplit("-", 2)
            pid = int(pid)
        except ValueError:
            continue
        if not _process_alive(host, pid):
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def _to_datetime(value):
    if isinstance(value, str):
        return datetime.datetime.fromisoformat(value)
    return value


class ZarrStore(strax.StorageFrontend):
    """Keep strax data in a folder of zarr groups, one per (run, data type, lineage)."""

    can_define_runs = True
    provide_run_metadata = True
    provide_superruns = True

    def __init__(self, path: str | os.PathLike = "./dd_data", *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.path = os.path.abspath(os.fspath(path))
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise ConfigError(f"The store {self.path} is a file, not a folder: name a folder for the zarr store")
        self.backends = [ZarrBackend()]
        if not self.readonly:
            os.makedirs(self.path, exist_ok=True)

    def __repr__(self):
        return f"ZarrStore({self.path!r})"

    def data_path(self, run_id: str, data_type: str, lineage_hash: str) -> str:
        return os.path.join(self.path, str(run_id), f"{data_type}-{lineage_hash}")

    def backend_key(self, path):
        return self.backends[0].__class__.__name__, path

    @staticmethod
    def check_run_id(run_id):
        run_id = str(run_id)
        if not run_id or any(c in run_id for c in "-/\\") or run_id.startswith("."):
            raise ValueError(
                f"Run id {run_id!r} cannot be stored: use letters, digits and '_' "
                "(no '-', '/' or leading '.')"
            )

    def _run_metadata_path(self, run_id):
        return os.path.join(self.path, str(run_id), RUN_METADATA_FILE)

    def raw_run_metadata(self, run_id) -> dict:
        """The run document of ``run_id`` as stored (nested, times as text): to update and write back."""
        path = self._run_metadata_path(run_id)
        try:
            with open(path) as f:
                return json.load(f)
        except FileNotFoundError:
            raise strax.RunMetadataNotAvailable(f"No run metadata for {run_id!r} in {self}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise strax.DataCorrupted(f"Run metadata of {run_id!r} at {path} is not valid JSON: {e}") from None

    def run_metadata(self, run_id, projection=None):
        """The run document of ``run_id`` (start and end as datetimes), as strax frontends give it."""
        document = self.raw_run_metadata(run_id)
        for name in RUN_TIME_FIELDS:
            if name in document:
                document[name] = _to_datetime(document[name])
        document = strax.flatten_run_metadata(document)
        if projection is not None:
            wanted = set(strax.to_str_tuple(projection) if not isinstance(projection, dict) else projection)
            document = {k: v for k, v in document.items() if k in wanted}
        return document

    def write_run_metadata(self, run_id, metadata):
        """Store the run document (atomically: a reader sees the old or the new one, whole)."""
        if self.readonly:
            raise PermissionError(f"{self} is read-only: cannot write run metadata of {run_id!r}")
        self.check_run_id(run_id)
        metadata = dict(metadata)
        metadata.setdefault("name", str(run_id))
        self.prepare_run(run_id)
        path = self._run_metadata_path(run_id)
        temporary = f"{path}{WRITING_MARK}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        with open(temporary, "w") as f:
            json.dump(metadata, f, default=_json_default, indent=1)  # key order matters: sub_run_spec is in time order
        os.replace(temporary, path)

    def _scan_runs(self, store_fields):
        for run_id in self.stored_runs():
            try:
                document = self.run_metadata(run_id, projection=store_fields)
            except strax.RunMetadataNotAvailable:
                continue
            document.setdefault("name", run_id)
            yield document

    def prepare_run(self, run_id: str) -> None:
        """Create the store's root and run groups (call in the main process before workers write)."""
        self.check_run_id(run_id)
        zarr.open_group(self.path, mode="a").require_group(str(run_id))

    def _find(self, key, write, allow_incomplete, fuzzy_for, fuzzy_for_options):
        self.check_run_id(key.run_id)
        path = self.data_path(key.run_id, key.data_type, key.lineage_hash)
        exists = _is_group(path)
        if write:
            if exists and not self._can_overwrite(key):
                raise strax.DataExistsError(at=path)
            # Parent groups are made here, in the main process: workers creating them race.
            self.prepare_run(key.run_id)
            return self.backend_key(path)
        if exists:
            return self.backend_key(path)
        if allow_incomplete:
            # data being written are never handed out: they are not published yet
            raise strax.DataNotAvailable
        if fuzzy_for or fuzzy_for_options:
            wanted = _jsonable(key.lineage)
            for candidate in self._stored_paths(key.run_id, key.data_type):
                metadata = self.backends[0].get_metadata(candidate)
                if self._matches(
                    _jsonable(metadata["lineage"]), wanted, fuzzy_for, fuzzy_for_options
                ):
                    return self.backend_key(candidate)
        raise strax.DataNotAvailable

    def _stored_paths(self, run_id, data_type=None):
        run_path = os.path.join(self.path, str(run_id))
        if not os.path.isdir(run_path):
            return []
        found = []
        for name in sorted(os.listdir(run_path)):
            if name.count("-") != 1 or not _is_group(os.path.join(run_path, name)):
                continue
            if data_type is None or name.split("-")[0] == data_type:
                found.append(os.path.join(run_path, name))
        return found

    def stored_runs(self) -> list[str]:
        if not os.path.isdir(self.path):
            return []
        return sorted(
            name for name in os.listdir(self.path) if os.path.isdir(os.path.join(self.path, name))
        )

    def inventory(self, run_id: str) -> list[dict]:
        """One dict per stored data type of ``run_id``: what, lineage hash, rows, size, complete."""
        rows = []
        for path in self._stored_paths(run_id):
            data_type, lineage_hash = os.path.basename(path).split("-")
            try:
                md = self.backends[0].get_metadata(path)
            except strax.DataCorrupted:
                md = {}
            rows.append(
                dict(
                    data_type=data_type,
                    lineage_hash=lineage_hash,
                    rows=sum(c.get("n", 0) for c in md.get("chunks", [])),
                    chunks=len(md.get("chunks", [])),
                    bytes_on_disk=_folder_bytes(path),
                    complete="writing_ended" in md and "exception" not in md,
                )
            )
        return rows

    def remove(self, key):
        path = self.data_path(key.run_id, key.data_type, key.lineage_hash)
        if _is_group(path):
            shutil.rmtree(path)


def _folder_bytes(path):
    return sum(
        os.path.getsize(os.path.join(folder, f)) for folder, _, files in os.walk(path) for f in files
    )


class ZarrBackend(strax.StorageBackend):
    """Reads and writes one strax data type as a zarr group; the backend key is its path."""

    def _get_metadata(self, path, **kwargs):
        if not _is_group(path):
            raise strax.DataNotAvailable(f"No zarr data at {path}")
        try:
            group = zarr.open_group(path, mode="r")
            metadata = group.attrs.asdict().get(METADATA_ATTR)
        except Exception as e:  # unreadable group attributes: a damaged store
            raise strax.DataCorrupted(f"{_describe(path)}: cannot read the strax metadata: {e}") from None
        if metadata is None:
            raise strax.DataCorrupted(f"{_describe(path)}: no strax metadata")
        if "writing_ended" not in metadata or "exception" in metadata:
            raise strax.DataCorrupted(f"{_describe(path)}: published but not written to the end")
        rows = {}
        for chunk in metadata["chunks"]:
            segment = chunk.get("segment", "")
            rows[segment] = rows.get(segment, 0) + chunk["n"]
        for segment, n in rows.items():
            where = _describe(path) + (f", segment {segment}" if segment else "")
            for name in np.dtype(literal_eval(metadata["dtype"])).names:
                try:
                    stored = group[f"{segment}/{name}" if segment else name].shape[0]
                except Exception as e:
                    raise strax.DataCorrupted(f"{where}, field {name!r}: cannot open its array: {e}") from None
                if stored != n:
                    raise strax.DataCorrupted(
                        f"{where}, field {name!r}: the metadata describes {n} rows, the array holds {stored}"
                    )
        return metadata

    def _read_chunk(self, path, chunk_info, dtype, compressor):
        dtype = np.dtype(dtype)
        folder = os.path.join(path, chunk_info["segment"]) if chunk_info.get("segment") else path
        group = zarr.open_group(folder, mode="r")
        start = chunk_info["row_start"]
        rows = slice(start, start + chunk_info["n"])
        checksums = chunk_info.get("checksums", {})  # groups written before ChecksummedBlosc
        data = _empty_rows(chunk_info["n"], dtype)
        for name in dtype.names:
            where = f"{_describe(path)}, field {name!r}, rows {rows.start}-{rows.stop - 1}"
            array = group[name]
            missing = _missing_chunk_files(array, rows, os.path.join(folder, name))
            if missing:  # zarr would read them as fill values
                raise strax.DataCorrupted(f"{where}: chunk files missing: {', '.join(missing)}")
            try:
                array.get_basic_selection(rows, out=data[name])
            except ChecksumMismatch as e:
                raise strax.DataCorrupted(f"{where}: checksum mismatch ({e})") from None
            except Exception as e:  # a decompression error, a truncated or unreadable file
                raise strax.DataCorrupted(f"{where}: cannot read ({type(e).__name__}: {e})") from None
            if name in checksums and field_checksum(data[name]) != checksums[name]:
                raise strax.DataCorrupted(f"{where}: checksum mismatch (altered bytes)")
        return data

    def _saver(self, path, metadata, **kwargs):
        return ZarrSaver(path, metadata=metadata, **kwargs)


def merge_segments(path: str, part_paths: ty.Sequence[str], counter_fields: ty.Sequence[str] = ()) -> bool:
    """Publish the data of ``part_paths`` (complete groups of one data type and lineage, each
    made from consecutive chunk ranges of one run, in time order) as one group at ``path``.

    The parts are moved, not copied, into ``<path>/segment_<k>/``; the merged metadata lists
    every chunk with its segment. ``counter_fields`` count rows from the start of the run (an
    event number): each part counted from 0, so they are shifted by the rows of the parts
    before it. Publishing is a rename, as for a saver: readers see all of it or nothing.
    Returns False (and leaves the parts) when ``path`` is already published.
    """
    if _is_group(path):
        return False
    backend = ZarrBackend()
    parts = [backend.get_metadata(part) for part in part_paths]
    lineages = {json.dumps(_jsonable(md["lineage"]), sort_keys=True) for md in parts}
    if len(lineages) != 1:
        raise ValueError(f"{_describe(path)}: the parts to merge differ in lineage")
    merged = dict(parts[0], chunks=[])
    rows_before = 0
    for k, md in enumerate(parts):
        if counter_fields and rows_before:
            _shift_counters(part_paths[k], md["chunks"], counter_fields, rows_before)
        rows_before += sum(chunk["n"] for chunk in md["chunks"])
        for chunk in md["chunks"]:
            if merged["chunks"] and chunk["start"] != merged["chunks"][-1]["end"]:
                raise ValueError(
                    f"{_describe(path)}: part {k} starts at {chunk['start']}, the previous part ends at "
                    f"{merged['chunks'][-1]['end']}: the parts are not consecutive"
                )
            merged["chunks"].append(dict(chunk, chunk_i=len(merged["chunks"]), segment=f"segment_{k:03d}"))
    merged["writing_ended"] = max(md["writing_ended"] for md in parts)
    temporary = f"{path}{WRITING_MARK}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    group = zarr.open_group(temporary, mode="w")
    for k, part in enumerate(part_paths):
        os.rename(part, os.path.join(temporary, f"segment_{k:03d}"))
    group.attrs[METADATA_ATTR] = _jsonable(merged)
    try:
        os.rename(temporary, path)
    except OSError:
        if not _is_group(path):
            raise
        log.info("%s was published by another writer meanwhile; discarding the merged copy", _describe(path))
        shutil.rmtree(temporary, ignore_errors=True)
        return False
    return True


def _shift_counters(part_path, chunks, fields, offset):
    group = zarr.open_group(part_path, mode="r+")
    for name in fields:
        values = group[name][:] + offset
        group[name][:] = values
        for chunk in chunks:
            if "checksums" in chunk:  # a group written before ChecksummedBlosc
                chunk["checksums"][name] = field_checksum(values[chunk["row_start"]:chunk["row_start"] + chunk["n"]])


def _empty_rows(n, dtype):
    """Rows to be filled field by field: uninitialised unless the dtype has padding bytes."""
    fields_bytes = sum(dtype.fields[name][0].itemsize for name in dtype.names)
    return np.empty(n, dtype) if fields_bytes == dtype.itemsize else np.zeros(n, dtype)


def _can_gather(gathered, chunk_info, gather_bytes):
    """Whether ``chunk_info`` may join the stored chunk ``gathered``: its rows follow on, its
    time range starts where that one ends, one run, and the two stay within ``gather_bytes``."""
    return (
        gathered["end"] == chunk_info["start"]
        and gathered["run_id"] == chunk_info["run_id"]
        and not gathered.get("subruns") and not chunk_info.get("subruns")
        and gathered["row_start"] + gathered["n"] == chunk_info["row_start"]
        and gathered["nbytes"] + chunk_info["nbytes"] <= gather_bytes
    )


def _gather(gathered, chunk_info):
    """One chunk info for the rows and time of ``gathered`` followed by ``chunk_info``."""
    merged = dict(gathered, n=gathered["n"] + chunk_info["n"], end=chunk_info["end"],
                  nbytes=gathered["nbytes"] + chunk_info["nbytes"])
    first, last = (gathered if gathered["n"] else chunk_info), (chunk_info if chunk_info["n"] else gathered)
    for edge, source in (("first", first), ("last", last)):
        for key in (f"{edge}_time", f"{edge}_endtime"):
            if key in source:
                merged[key] = source[key]
    return merged


def _missing_chunk_files(array, rows, folder):
    if rows.stop <= rows.start:
        return []
    per_chunk = array.chunks[0]
    suffix = ".0" * (array.ndim - 1)
    names = [f"{i}{suffix}" for i in range(rows.start // per_chunk, (rows.stop - 1) // per_chunk + 1)]
    return [os.path.join(folder, n) for n in names if not os.path.exists(os.path.join(folder, n))]


class ZarrSaver(strax.Saver):
    """Appends each chunk to the field arrays of a temporary group, records where its rows are
    and their checksums, and publishes the group by renaming it on a clean close.

    Whole zarr chunks are written while saving; the rows of a partly filled one wait in memory
    (less than a zarr chunk per field) until a later strax chunk completes it, the saver closes,
    or they have waited ``PENDING_CHUNKS_LIMIT`` strax chunks: then they are written as they are,
    and the next rows complete that zarr chunk in the store. A field of large rows (an image)
    completes its zarr chunks within every strax chunk and is never written partly; a field of a
    few bytes per row is, every few strax chunks, so what waits does not grow with run length.
    Appending straight to the arrays made zarr read, decode and re-encode the partly filled chunk
    on every append.
    """

    # One writer per array: appends from forked processes would race.
    allow_fork = False

    def __init__(self, path, metadata, **kwargs):
        super().__init__(metadata, **kwargs)
        self.path = path
        self.rows_written = 0
        # strax only hands out a path that exists when overwriting was asked for
        self.replaces_existing = _is_group(path)
        remove_stale_temporaries(path)
        self.temporary = f"{path}{WRITING_MARK}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        group = zarr.open_group(self.temporary, mode="w")
        dtype = np.dtype(literal_eval(self.md["dtype"]))
        for name, base, shape in _field_layout(dtype):
            row_bytes = base.itemsize * int(np.prod(shape, dtype=np.int64))
            rows_per_chunk = max(1, TARGET_ZARR_CHUNK_BYTES // max(row_bytes, 1))
            group.create_dataset(
                name,
                shape=(0, *shape),
                chunks=(rows_per_chunk, *shape),
                dtype=base,
                compressor=_field_compressor(base),
            )
        self.group = group
        self._flush_metadata()
        self.pending = {}  # field -> rows not yet written (fewer than one zarr chunk)
        self.gather_bytes = self.md["chunk_target_size_mb"] * 1e6 if self.md.get(GATHERED_IN_STORE) else 0
        self.gathered = None  # chunk info of the stored chunk being gathered
        self.waiting_since = {}  # field -> the strax chunk from which its pending rows wait
        self.chunks_saved = 0

    def _flush_metadata(self):
        self.group.attrs[METADATA_ATTR] = _jsonable(self.md)

    def _append_whole_chunks(self, name, values):
        array = self.group[name]
        per_chunk = array.chunks[0]
        pending = self.pending.pop(name, None)
        since = self.waiting_since.pop(name, self.chunks_saved)
        # rows of the zarr chunk being filled: waiting here, or written by a flush of waiting rows
        filling = (array.shape[0] + (0 if pending is None else len(pending))) % per_chunk
        if filling:  # complete that zarr chunk first
            fill = min(per_chunk - filling, len(values))
            head = values[:fill].copy() if pending is None else np.concatenate([pending, values[:fill]])
            values = values[fill:]
            if fill < per_chunk - filling:
                if len(head):
                    self.pending[name], self.waiting_since[name] = head, since
                return
            self._write_rows(array, head)
        whole = len(values) - len(values) % per_chunk
        if whole:
            self._write_rows(array, values[:whole])
        if whole < len(values):
            self.pending[name], self.waiting_since[name] = values[whole:].copy(), self.chunks_saved

    def _write_waiting(self, names):
        """Write the waiting rows of fields ``names`` as they are (a partly filled zarr chunk)."""
        for name in names:
            self._write_rows(self.group[name], self.pending.pop(name))
            del self.waiting_since[name]

    @staticmethod
    def _write_rows(array, rows):
        start = array.shape[0]
        array.resize((start + len(rows), *array.shape[1:]))
        array[start:] = rows

    def _save_chunk(self, data, chunk_info, executor=None):
        for name in data.dtype.names:
            self._append_whole_chunks(name, data[name])
        self.chunks_saved += 1
        self._write_waiting([name for name, since in self.waiting_since.items()
                             if self.chunks_saved - since >= PENDING_CHUNKS_LIMIT])
        row_start = self.rows_written
        self.rows_written += len(data)
        return dict(row_start=row_start), None

    def _save_chunk_metadata(self, chunk_info):
        chunk_info.setdefault("row_start", self.rows_written)
        if self.gathered is not None and _can_gather(self.gathered, chunk_info, self.gather_bytes):
            self.gathered = _gather(self.gathered, chunk_info)
            return
        self._publish_gathered()
        if self.gather_bytes:
            self.gathered = chunk_info
        else:
            self._append_chunk_info(chunk_info)

    def _append_chunk_info(self, chunk_info):
        chunk_info["chunk_i"] = len(self.md["chunks"])
        self.md["chunks"].append(chunk_info)

    def _publish_gathered(self):
        if self.gathered is not None:
            self._append_chunk_info(self.gathered)
            self.gathered = None

    def close(self, wait_for=()):
        self._publish_gathered()  # strax's close reads the run's start and end from the chunk infos
        super().close(wait_for=wait_for)

    def _close(self):
        if "exception" in self.md or self.got_exception is not None:
            shutil.rmtree(self.temporary, ignore_errors=True)
            return
        self._write_waiting(list(self.pending))
        self._flush_metadata()
        if self.replaces_existing and _is_group(self.path):
            replaced = f"{self.path}{REPLACED_MARK}{uuid.uuid4().hex[:8]}"
            os.rename(self.path, replaced)
            os.rename(self.temporary, self.path)
            shutil.rmtree(replaced, ignore_errors=True)
            return
        try:
            os.rename(self.temporary, self.path)
        except OSError:
            if not _is_group(self.path):
                raise
            # another process published the same data (same lineage) first: keep theirs
            log.info("%s was published by another writer meanwhile; discarding this copy", _describe(self.path))
            shutil.rmtree(self.temporary, ignore_errors=True)
