#!/usr/bin/env python3
"""q4 and an empty request before and after a long scan, on one daemon.

Loads S1 (bench/data/s1.lp, or --file) into a neoedge started on a temp
dir, seals and compacts it, restarts it, then runs rounds of: GET /ping
and q4 (best of 5 each), q3 (the 35 ms percentile scan, best of 3), q4
and /ping again, and q3 once more with chunked=true (always on a query
thread of its own) followed by q4 and /ping. Every request goes through
bench_query.py's kept connection, as bench/compare.sh times them.

What it shows: whether a scan moves the HTTP thread that serves the
connection to another CPU than the client's, after which every request
pays two cross-CPU wake-ups on a VM whose idle vCPUs halt at once
(bench/README.md, "Why q4 swings between runs"). It never asserts.

Usage: after_scan.py --neoedge BIN [--baseline BIN] [--file S1.lp] [--rounds 4]
"""
import argparse
import os
import shutil
import sys
import tempfile
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(SRC, "bench", "compare"))
import bench_query  # noqa: E402
import engines  # noqa: E402
import run  # noqa: E402
from load import Loader, batches  # noqa: E402

Q3, Q4 = bench_query.QUERIES[2][2], bench_query.QUERIES[3][2]


def best(port, q, runs, chunked=False):
    """Best time in ms of runs requests of q (None: GET /ping)."""
    if not chunked:
        return bench_query.best_of(port, "s1", q, runs)[0] * 1e3
    path = "/query?" + urllib.parse.urlencode({"db": "s1", "q": q, "chunked": "true"})
    return min(bench_query._timed_get(port, path)[0] for _ in range(runs)) * 1e3


def loaded_store(binary, lp, tmp):
    """A temp dir whose neoedge store holds lp, sealed and compacted."""
    proc = engines.start_neoedge(binary, tmp)
    try:
        loader = Loader(proc.port, "s1", batches(lp))
        loader.run()
        if loader.errors:
            raise RuntimeError("load: " + loader.errors[0])
        run.settle_neoedge(proc, 600)
    finally:
        engines.stop(proc)


def rounds_of(binary, store, n):
    tmp = tempfile.mkdtemp(prefix="after-scan.")
    shutil.copytree(os.path.join(store, "neoedge"), os.path.join(tmp, "neoedge"))
    proc = engines.start_neoedge(binary, tmp)
    try:
        for _ in range(n):
            p0, a0 = best(proc.port, None, 5), best(proc.port, Q4, 5)
            s1 = best(proc.port, Q3, 3)
            a1, p1 = best(proc.port, Q4, 5), best(proc.port, None, 5)
            s2 = best(proc.port, Q3, 3, chunked=True)
            a2, p2 = best(proc.port, Q4, 5), best(proc.port, None, 5)
            print("| %.3f / %.3f | %.1f | %.3f / %.3f | %.1f | %.3f / %.3f |"
                  % (a0, p0, s1, a1, p1, s2, a2, p2), flush=True)
    finally:
        engines.stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--neoedge", required=True)
    ap.add_argument("--baseline", help="a second binary, run after the first on the same store")
    ap.add_argument("--file", default=os.path.join(SRC, "bench", "data", "s1.lp"))
    ap.add_argument("--rounds", type=int, default=4)
    a = ap.parse_args()
    store = tempfile.mkdtemp(prefix="after-scan-store.")
    try:
        loaded_store(a.neoedge, a.file, store)
        for label, binary in (("neoedge", a.neoedge), ("baseline", a.baseline)):
            if not binary:
                continue
            print("\n%s (%s), ms: q4 / ping best of 5, q3 best of 3\n" % (label, binary))
            print("| before: q4 / ping | q3 | after q3: q4 / ping | q3 chunked | after it: q4 / ping |")
            print("|---|---:|---|---:|---|")
            rounds_of(binary, store, a.rounds)
    finally:
        shutil.rmtree(store, ignore_errors=True)


if __name__ == "__main__":
    main()
