"""Peak memory of a long run processed to a target, for two run lengths.

    python benchmarks/long_run_memory.py --events 10000 100000 --target anomaly_scores

Each length runs in its own process (peak RSS is per process); prints one JSON line per run
and saves them to benchmarks/results/long_run_memory.json. Besides the peak, the resident memory
is sampled every second while the run is made: ``rss_mb_at`` gives it at a quarter, half, three
quarters and the end of the run, ``rss_mb_median_by_tenth`` / ``rss_mb_max_by_tenth`` the median and
largest sample in each tenth of it, and ``growth_mb_per_10k_events_second_half`` (``growth_error``
its standard error) the slope of a straight line through the second half's samples (the run's
events taken as processed at a constant rate): a memory that is flat in run length has a slope
near zero there, whatever the warm-up before it cost. ``rss_mb_after_run`` is the resident
memory when the run is made and ``freed_by_malloc_trim_mb`` what glibc's ``malloc_trim`` gives
back then: free memory the allocator kept. ``--trim-seconds S`` trims every S seconds through
the run (results in long_run_memory_trimmed.json), so that the trajectory follows the memory in
use rather than the allocator's high-water marks. ``cpu_seconds`` is the process's CPU time for
the run (comparable between runs made at once on a shared machine, where wall time is not).
``mb_median_by_tenth`` splits the resident memory of each tenth (medians) into glibc's parts
(``malloc_in_use``, ``malloc_free_in_heaps``, ``malloc_mmapped``: ``mallinfo2`` over all arenas)
and the rest (Python's small-object arenas, code, libraries' own mappings), so that a rise can be
told apart as memory in use or free memory the allocator keeps.
``--no-save`` processes the run without storing anything (``event_rows`` then counts the
target's rows), so that what saving holds drops out of the memory: in a context without
storage, since with one strax saves its SaveWhen.ALWAYS types (peaks, images, scores) even where
``get_iter`` is told ``save=()``; before 2026-12-07 (seventh session) it did that, and so saved
all but the target. ``--save-only TYPES`` saves only those data types (comma-separated). Runs made with
``get_iter`` (``--no-save``, ``--save-only``) also give
``malloc_in_use_and_mmapped_at_chunk_ends_by_tenth``: glibc's in-use and mmapped memory read as
each chunk comes out, when no chunk is in flight (the once-a-second samples scatter by ~40 MiB
with the chunk being processed, which hides a rise of 10-20 MiB).
"""

import argparse
import ctypes
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time


def _resident_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]


def _malloc_mb():
    """glibc's account over all its arenas [MiB]: (in use in the heaps, free in the heaps,
    mmapped blocks). Python's small-object arenas, code and libraries' own mappings are not in it."""
    mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return info.uordblks / 2**20, info.fordblks / 2**20, info.hblkhd / 2**20


class ResidentMemorySampler(threading.Thread):
    """(seconds since start, resident MiB) every ``interval`` seconds until stopped, and
    glibc's split of its part (``malloc``: in use, free in the heaps, mmapped [MiB])."""

    def __init__(self, interval=1.0):
        super().__init__(daemon=True)
        self.interval, self.samples, self.malloc, self._stop_event = interval, [], [], threading.Event()
        self.started = time.time()

    def run(self):
        while not self._stop_event.is_set():
            self.samples.append((time.time() - self.started, _resident_mb()))
            self.malloc.append(_malloc_mb())
            self._stop_event.wait(self.interval)

    def stop(self):
        self._stop_event.set()
        self.join()


def trajectory(samples, n_events):
    """RSS at a quarter, half, three quarters and the end of the run, and the second half's
    slope [MiB per 10,000 events] with its standard error (least squares; the samples' scatter
    from chunk to chunk sets it), events taken as processed at a constant rate."""
    import numpy as np

    t, rss = np.array(samples).T
    events = n_events * t / t[-1]
    at = {f"{q:g}": round(float(np.interp(q * n_events, events, rss)), 1) for q in (0.25, 0.5, 0.75, 1.0)}
    late = events >= n_events / 2
    if late.sum() < 4:
        return at, float("nan"), float("nan")
    (slope, _), covariance = np.polyfit(events[late] / 1e4, rss[late], 1, cov=True)
    return at, round(float(slope), 2), round(float(np.sqrt(covariance[0, 0])), 2)


def by_tenth(samples, malloc):
    """Median and largest resident memory [MiB] in each tenth of the run (events taken as
    processed at a constant rate): the trajectory with the sampling scatter smoothed out; and
    the median of each of glibc's parts (``malloc``, the sampler's) and of the rest of the
    resident memory in each tenth."""
    import numpy as np

    t, rss = np.array(samples).T
    tenth = np.minimum((10 * t / t[-1]).astype(int), 9)

    def per_tenth(values, statistic=np.median):
        return [round(float(statistic(values[tenth == k])), 1) if np.any(tenth == k) else None for k in range(10)]

    in_use, free, mmapped = np.array(malloc).T
    parts = dict(malloc_in_use=per_tenth(in_use), malloc_free_in_heaps=per_tenth(free),
                 malloc_mmapped=per_tenth(mmapped), rest_of_resident=per_tenth(rss - in_use - free - mmapped))
    return per_tenth(rss), per_tenth(rss, np.max), parts


def _tenths(values):
    """Median of each tenth of ``values`` (in their order) [MiB]."""
    import numpy as np

    parts = np.array_split(np.asarray(values, float), 10) if len(values) >= 10 else []
    return [round(float(np.median(part)), 1) for part in parts]


class AllocatorTrimmer(threading.Thread):
    """Calls glibc's ``malloc_trim(0)`` every ``interval`` seconds until stopped: memory that
    the allocator holds free goes back to the system, so what stays resident is in use."""

    def __init__(self, interval):
        super().__init__(daemon=True)
        self.interval, self._stop_event = interval, threading.Event()
        self.malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim

    def run(self):
        while not self._stop_event.wait(self.interval):
            self.malloc_trim(0)

    def stop(self):
        self._stop_event.set()
        self.join()


def one_run(n_events, target, chunk, trim_seconds=0.0, save=True, save_only=()):
    import strax

    import ddcore

    with tempfile.TemporaryDirectory() as store:
        # without a store: strax saves the SaveWhen.ALWAYS types (peaks, images, scores...) whatever
        # get_iter's ``save`` says, so only a context with no storage saves nothing
        st = ddcore.context("xenon1t", storage=store if save else [], sim_n_events=n_events,
                            sim_events_per_chunk=chunk)
        if save_only:  # this process's plugin classes: the others are never saved
            for name, plugin in st._plugin_class_registry.items():
                if name not in save_only:
                    plugin.save_when = strax.SaveWhen.NEVER
        sampler = ResidentMemorySampler()
        sampler.start()
        trimmer = AllocatorTrimmer(trim_seconds) if trim_seconds else None
        if trimmer:
            trimmer.start()
        started, cpu_started = time.time(), time.process_time()
        at_chunk_ends = []  # glibc's in use + mmapped after each chunk: no chunk in flight then
        if save and not save_only:
            st.make("er_sr0_070", target, progress_bar=False)
        else:
            rows = 0
            for result in st.get_iter("er_sr0_070", target, save=save_only, progress_bar=False):
                rows += len(result)
                in_use, _, mmapped = _malloc_mb()
                at_chunk_ends.append(in_use + mmapped)
        elapsed, cpu_seconds = time.time() - started, time.process_time() - cpu_started
        sampler.stop()
        if trimmer:
            trimmer.stop()
        held_mb = _resident_mb()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        trimmed_mb = _resident_mb()  # before the check below loads the run's events
        if save and not save_only:
            rows = len(st.get_array("er_sr0_070", "event_basics", progress_bar=False))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    at, slope, slope_error = trajectory(sampler.samples, n_events)
    medians, largest, parts = by_tenth(sampler.samples, sampler.malloc)
    return dict(events=n_events, target=target, saved=list(save_only) or save, events_per_chunk=chunk, event_rows=rows,
                seconds=round(elapsed, 1), cpu_seconds=round(cpu_seconds, 1),
                events_per_s=round(n_events / elapsed, 1), trim_seconds=trim_seconds,
                peak_rss_mb=round(peak_mb, 1), rss_mb_at=at, growth_mb_per_10k_events_second_half=slope,
                growth_error=slope_error, rss_mb_median_by_tenth=medians, rss_mb_max_by_tenth=largest,
                mb_median_by_tenth=parts, malloc_in_use_and_mmapped_at_chunk_ends_by_tenth=_tenths(at_chunk_ends),
                rss_mb_after_run=round(held_mb, 1),
                freed_by_malloc_trim_mb=round(held_mb - trimmed_mb, 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--target", default="anomaly_scores")
    parser.add_argument("--chunk", type=int, default=250, help="events per chunk (the simulator's default)")
    parser.add_argument("--trim-seconds", type=float, default=0.0,
                        help="call glibc's malloc_trim every this many seconds during the run (a diagnostic: "
                             "what stays resident is then memory in use, not free memory the allocator keeps)")
    parser.add_argument("--no-save", action="store_true",
                        help="process the run in a context without storage (a diagnostic: the memory that saving "
                             "holds drops out)")
    parser.add_argument("--save-only", default="",
                        help="comma-separated data types: save only these (a diagnostic: which saved type "
                             "holds memory)")
    parser.add_argument("--output", help="file name under benchmarks/results (default long_run_memory.json, "
                                          "long_run_memory_trimmed.json with --trim-seconds)")
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.no_save and args.save_only:
        parser.error("--save-only saves some types, --no-save none: give one of them")
    if args.single:
        save_only = tuple(name for name in args.save_only.split(",") if name)
        print(json.dumps(one_run(args.events[0], args.target, args.chunk, args.trim_seconds, not args.no_save,
                                 save_only)))
        return
    results = []
    for n in args.events:
        out = subprocess.run([sys.executable, __file__, "--single", "--events", str(n), "--target",
                              args.target, "--chunk", str(args.chunk), "--trim-seconds", str(args.trim_seconds),
                              *(["--no-save"] if args.no_save else []), "--save-only", args.save_only],
                             capture_output=True, text=True)
        line = [text for text in out.stdout.splitlines() if text.startswith("{")]
        if out.returncode or not line:
            sys.exit(f"run with {n} events failed:\n{out.stderr[-3000:]}")
        results.append(json.loads(line[-1]))
        print(line[-1], flush=True)
    name = args.output or ("long_run_memory_trimmed.json" if args.trim_seconds else "long_run_memory.json")
    path = os.path.join(os.path.dirname(__file__), "results", name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
