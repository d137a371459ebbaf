"""Zarr storage for strax: a StorageFrontend, StorageBackend and Saver.

Layout::

    <root>/<run_id>/<data_type>-<lineage_hash>/     zarr group, one per stored data type
        .zattrs                                     {"strax_metadata": {...strax metadata...}}
        <field>/                                    one appendable zarr array per dtype field

A field with a subarray dtype (``float32[75, 75, 3]``) becomes an N-dimensional array of shape
``(rows, 75, 75, 3)``. The strax metadata is written when the saver opens, without
``writing_ended``; strax adds that key only when the saver closes cleanly, so a crash at any point
leaves data that strax refuses to load as complete. Each chunk's rows are located by
``row_start``/``n`` in its chunk info, because ``_read_chunk`` receives no metadata.

All zarr calls of the project live in this module.
"""

from __future__ import annotations

import json
import os
import shutil
from ast import literal_eval

import numcodecs
import numpy as np
import strax
import zarr

METADATA_ATTR = "strax_metadata"
TARGET_ZARR_CHUNK_BYTES = 4_000_000


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"Cannot store {type(value).__name__} {value!r} in zarr attributes")


def _jsonable(document):
    """What the document looks like after a JSON round trip (tuples become lists)."""
    return json.loads(json.dumps(document, default=_json_default))


def _field_compressor(dtype):
    # Byte shuffle hurts float images (~13x vs ~35x with zstd alone); integers gain from it.
    shuffle = numcodecs.Blosc.NOSHUFFLE if dtype.kind == "f" else numcodecs.Blosc.SHUFFLE
    return numcodecs.Blosc(cname="zstd", clevel=3, shuffle=shuffle)


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


class ZarrStore(strax.StorageFrontend):
    """Keep strax data in a folder of zarr groups, one per (run, data type, lineage)."""

    can_define_runs = False
    provide_run_metadata = False

    def __init__(self, path: str | os.PathLike = "./dd_data", *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.path = os.path.abspath(os.fspath(path))
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
        attrs = zarr.open_group(path, mode="r").attrs.asdict()
        if METADATA_ATTR not in attrs:
            raise strax.DataCorrupted(f"Zarr group {path} has no strax metadata")
        return attrs[METADATA_ATTR]

    def _read_chunk(self, path, chunk_info, dtype, compressor):
        dtype = np.dtype(dtype)
        group = zarr.open_group(path, mode="r")
        start = chunk_info["row_start"]
        rows = slice(start, start + chunk_info["n"])
        data = np.zeros(chunk_info["n"], dtype=dtype)
        for name in dtype.names:
            data[name] = group[name][rows]
        return data

    def _saver(self, path, metadata, **kwargs):
        return ZarrSaver(path, metadata=metadata, **kwargs)


class ZarrSaver(strax.Saver):
    """Appends each chunk to the field arrays and records where its rows are."""

    # One writer per array: appends from forked processes would race.
    allow_fork = False

    def __init__(self, path, metadata, **kwargs):
        super().__init__(metadata, **kwargs)
        self.path = path
        self.rows_written = 0
        if os.path.exists(path):
            shutil.rmtree(path)
        group = zarr.open_group(path, mode="w")
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
        self._flush_metadata(group)

    def _flush_metadata(self, group=None):
        if group is None:
            group = zarr.open_group(self.path, mode="r+")
        group.attrs[METADATA_ATTR] = _jsonable(self.md)

    def _save_chunk(self, data, chunk_info, executor=None):
        group = zarr.open_group(self.path, mode="r+")
        for name in data.dtype.names:
            group[name].append(data[name], axis=0)
        row_start = self.rows_written
        self.rows_written += len(data)
        return dict(row_start=row_start), None

    def _save_chunk_metadata(self, chunk_info):
        chunk_info.setdefault("row_start", self.rows_written)
        self.md["chunks"].append(chunk_info)
        self._flush_metadata()

    def _close(self):
        self._flush_metadata()
