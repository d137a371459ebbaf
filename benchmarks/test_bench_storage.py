"""Zarr store vs strax's own file store on the same data: write and read MB/s, size on disk."""

import itertools

import pytest
import strax

import ddcore
from benchmarks.conftest import megabytes

RUN_ID = "wimp_sr0_050"


def _frontend(kind, path):
    return ddcore.ZarrStore(str(path)) if kind == "zarr" else strax.DataDirectory(str(path))


def _write(bench_context, kind, path, data_type, data):
    frontend = _frontend(kind, path)
    key = bench_context.key_for(RUN_ID, data_type)
    plugin = bench_context.get_single_plugin(RUN_ID, data_type)
    saver = frontend.saver(key, plugin.metadata(RUN_ID, data_type))
    chunk = strax.Chunk(start=int(data["time"][0]), end=int(strax.endtime(data).max()) + 1,
                        data=data, data_type=data_type, data_kind=plugin.data_kind_for(data_type),
                        dtype=data.dtype, run_id=RUN_ID)
    saver.save(chunk, chunk_i=0)
    saver.close()
    return frontend, key


@pytest.mark.parametrize("kind", ["zarr", "strax_files"])
@pytest.mark.parametrize("data_type", ["raw_records", "event_images"])
def test_write(benchmark, tmp_path, kind, data_type, bench_context):
    data = bench_context.get_array(RUN_ID, data_type, progress_bar=False)
    counter = itertools.count()
    benchmark.pedantic(lambda: _write(bench_context, kind, tmp_path / f"s{next(counter)}", data_type, data),
                       rounds=3, iterations=1)
    benchmark.extra_info["write_mb_per_s"] = megabytes(data) / benchmark.stats.stats.median
    folder = tmp_path / "s0"
    benchmark.extra_info["compression_ratio"] = megabytes(data) * 1e6 / sum(
        p.stat().st_size for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("kind", ["zarr", "strax_files"])
@pytest.mark.parametrize("data_type", ["raw_records", "event_images"])
def test_read(benchmark, tmp_path, kind, data_type, bench_context):
    data = bench_context.get_array(RUN_ID, data_type, progress_bar=False)
    frontend, key = _write(bench_context, kind, tmp_path, data_type, data)

    def read():
        return strax.Chunk.concatenate(list(frontend.loader(key))).data

    loaded = benchmark.pedantic(read, rounds=5, iterations=1)
    assert (loaded == data).all()
    benchmark.extra_info["read_mb_per_s"] = megabytes(data) / benchmark.stats.stats.median
