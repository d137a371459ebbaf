"""Peak memory of a long run processed to a target, for two run lengths.

    python benchmarks/long_run_memory.py --events 10000 100000 --target anomaly_scores

Each length runs in its own process (peak RSS is per process); prints one JSON line per run
and saves them to benchmarks/results/long_run_memory.json.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


def one_run(n_events, target, chunk):
    import ddcore

    with tempfile.TemporaryDirectory() as store:
        st = ddcore.context("xenon1t", storage=store, sim_n_events=n_events, sim_events_per_chunk=chunk)
        started = time.time()
        st.make("er_sr0_070", target, progress_bar=False)
        elapsed = time.time() - started
        rows = len(st.get_array("er_sr0_070", "event_basics", progress_bar=False))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(events=n_events, target=target, events_per_chunk=chunk, event_rows=rows,
                seconds=round(elapsed, 1), events_per_s=round(n_events / elapsed, 1),
                peak_rss_mb=round(peak_mb, 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--target", default="anomaly_scores")
    parser.add_argument("--chunk", type=int, default=250, help="events per chunk (the simulator's default)")
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single:
        print(json.dumps(one_run(args.events[0], args.target, args.chunk)))
        return
    results = []
    for n in args.events:
        out = subprocess.run([sys.executable, __file__, "--single", "--events", str(n), "--target",
                              args.target, "--chunk", str(args.chunk)], capture_output=True, text=True)
        line = [text for text in out.stdout.splitlines() if text.startswith("{")]
        if out.returncode or not line:
            sys.exit(f"run with {n} events failed:\n{out.stderr[-3000:]}")
        results.append(json.loads(line[-1]))
        print(line[-1], flush=True)
    path = os.path.join(os.path.dirname(__file__), "results", "long_run_memory.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
