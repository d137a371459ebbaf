"""Markdown table of a pytest-benchmark JSON: python benchmarks/summarize.py [results.json]"""

import json
import sys


def main(path="benchmarks/results/latest.json"):
    with open(path) as f:
        data = json.load(f)
    cpu = data["machine_info"]["cpu"]
    print(f"Machine: {cpu.get('brand_raw', '?')}, {cpu.get('count', '?')} cores; {data['datetime'][:10]}\n")
    print("| benchmark | median [s] | figures |")
    print("| --- | ---: | --- |")
    for bench in data["benchmarks"]:
        extra = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in bench["extra_info"].items())
        print(f"| {bench['name']} | {bench['stats']['median']:.4f} | {extra} |")


if __name__ == "__main__":
    main(*sys.argv[1:])
