#!/usr/bin/env python3
"""CPU and peak RSS of one HTTP line-protocol ingest, optionally under callgrind.

    bench/ingest/ingest_cpu.py --neoedge build-rel/agent/neoedge --file bench/data/s1-q5m.lp
        [--conns 2] [--batch 5000] [--repeat 3] [--disk] [--amp] [--callgrind OUT]

Starts `neoedge run` on a free loopback port (HTTP only, durability
interval, fresh temp data dir), posts the file in batches over keep-alive
connections (bench/compare/load.py, 503 retried), then flushes and stops
the server. Prints one table row per run: field values, CPU seconds of the
server per million values (utime+stime from /proc), peak RSS (VmHWM after
the last write), 503 retries; with --repeat, the medians too. --disk adds
the bytes per value once the data dir settled, --amp the segment bytes
merges wrote per byte flushes wrote (neoedge_store_*_bytes_total); either
adds the CPU seconds from the start of the load until the data dir settled
(the background flushes and merges after the load included).

--callgrind OUT runs the server under `valgrind --tool=callgrind` with one
connection, writing OUT; the printed figure is then instructions per field
value (repeatable across runs, unlike CPU seconds), read from the
callgrind summary. Never asserts on time.
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "compare"))
import engines  # noqa: E402
import load  # noqa: E402
import procstat  # noqa: E402


def start(binary, tmp, callgrind):
    port = engines.free_port()
    env = dict(os.environ,
               NEOEDGE_HTTP_LISTEN="127.0.0.1:%d" % port,
               NEOEDGE_COAP_ENABLED="false",
               NEOEDGE_MQTT_ENABLED="false",
               NEOEDGE_STORAGE_DURABILITY="interval",
               NEOEDGE_LOG_LEVEL="warn")
    argv = [binary, "run", "--data-dir", os.path.join(tmp, "data")]
    if callgrind:
        argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + callgrind] + argv
    log = open(os.path.join(tmp, "neoedge.log"), "wb")
    p = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = "http://127.0.0.1:%d" % port
    for _ in range(1200):
        try:
            urllib.request.urlopen(url + "/ping", timeout=1)
            return p, port
        except OSError:
            if p.poll() is not None:
                raise SystemExit("neoedge exited at start; see " + log.name)
            time.sleep(0.1)
    p.kill()
    raise SystemExit("neoedge did not answer /ping")


def flush(port):
    req = urllib.request.Request("http://127.0.0.1:%d/api/v1/flush" % port, data=b"",
                                 method="POST")
    urllib.request.urlopen(req, timeout=600).read()


def settled_bytes(path, quiet=3.0, limit=120.0):
    """du of path once it stopped changing for `quiet` seconds."""
    last, since, t0 = -1, time.time(), time.time()
    while time.time() - t0 < limit:
        b = procstat.dir_bytes(path)
        if b != last:
            last, since = b, time.time()
        elif time.time() - since >= quiet:
            break
        time.sleep(0.5)
    return last


# libmicrohttpd's pool threads: HTTP bodies, decoding and the store's
# write path run there (the flusher and the compactor have their own).
HTTP_THREADS = "MHD-worker"


def store_counters(port, names):
    """Values of the named counters from the server's /metrics."""
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=60).read()
    got = dict.fromkeys(names, 0.0)
    for line in text.decode().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in got:
            got[parts[0]] = float(parts[1])
    return got


def callgrind_total(path):
    """Total Ir of a callgrind output file (its 'summary:' or 'totals:' line)."""
    with open(path) as f:
        for line in f:
            m = re.match(r"(summary|totals):\s+(\d+)", line)
            if m:
                return int(m.group(2))
    raise SystemExit("no summary in " + path)


def one_run(args, work, nvals):
    tmp = tempfile.mkdtemp(prefix="ingest-cpu-")
    try:
        p, port = start(args.neoedge, tmp, args.callgrind)
        cpu0 = procstat.cpu_seconds(p.pid)
        http0 = procstat.threads_cpu_seconds(p.pid, HTTP_THREADS)
        flt0 = procstat.minor_faults(p.pid)
        loader = load.Loader(port, "bench", work, conns=1 if args.callgrind else args.conns)
        wall, _ = loader.run()
        if loader.errors:
            raise SystemExit("write failed: " + loader.errors[0])
        hwm = procstat.status_bytes(p.pid, "VmHWM")
        cpu = procstat.cpu_seconds(p.pid) - cpu0
        http = procstat.threads_cpu_seconds(p.pid, HTTP_THREADS) - http0
        flt = procstat.minor_faults(p.pid) - flt0
        flush(port)
        quiet = args.quiet if args.quiet else (20.0 if args.callgrind else 3.0)
        disk = settled_bytes(os.path.join(tmp, "data"), quiet,
                             limit=600.0) if args.disk or args.amp else 0
        settled_cpu = procstat.cpu_seconds(p.pid) - cpu0
        amp = None
        if args.amp:
            c = store_counters(port, ("neoedge_store_flush_bytes_total",
                                      "neoedge_store_compaction_bytes_total"))
            amp = c["neoedge_store_compaction_bytes_total"] / max(
                c["neoedge_store_flush_bytes_total"], 1.0)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=600)
        row = {"wall": wall, "cpu_per_m": cpu / nvals * 1e6, "hwm_mib": hwm / 2**20,
               "http_per_m": http / nvals * 1e6, "flt_per_m": flt / nvals * 1e6,
               "retries": loader.retries, "bpv": disk / nvals, "amp": amp,
               "settled_per_m": settled_cpu / nvals * 1e6}
        if args.callgrind:
            row["ir_per_value"] = callgrind_total(args.callgrind) / nvals
        return row
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def common_args(ap, batch):
    """The options every import benchmark here takes: the server binary,
    the line-protocol file, lines per write, runs, callgrind output."""
    ap.add_argument("--neoedge", required=True)
    ap.add_argument("--file", required=True)
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--callgrind")


def main():
    ap = argparse.ArgumentParser()
    common_args(ap, 5000)
    ap.add_argument("--conns", type=int, default=2)
    ap.add_argument("--quiet", type=float,
                    help="seconds without a change in the data dir that count as settled "
                    "(default 3, 20 under callgrind, where a merge takes that long)")
    ap.add_argument("--disk", action="store_true",
                    help="after the flush, bytes per value on disk once settled")
    ap.add_argument("--amp", action="store_true",
                    help="once settled, segment bytes written by merges per byte flushed")
    args = ap.parse_args()
    work = load.batches(args.file, args.batch)
    nvals = sum(n for _, n in work)
    cols = ["run", "values", "wall s", "CPU s / M values", "peak RSS MiB", "503 retries",
            "HTTP threads CPU s / M values", "minor faults / M values"]
    if args.disk:
        cols.append("disk B / value")
    if args.amp:
        cols.append("merged B / flushed B")
    if args.disk or args.amp:
        cols.append("CPU s / M values until settled")
    if args.callgrind:
        cols.append("Ir / value (whole process)")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    rows = []
    for i in range(args.repeat):
        r = one_run(args, work, nvals)
        rows.append(r)
        cells = [str(i + 1), "{:,}".format(nvals), "%.2f" % r["wall"], "%.3f" % r["cpu_per_m"],
                 "%.1f" % r["hwm_mib"], str(r["retries"]), "%.3f" % r["http_per_m"],
                 "%.0f" % r["flt_per_m"]]
        if args.disk:
            cells.append("%.3f" % r["bpv"])
        if args.amp:
            cells.append("%.2f" % r["amp"])
        if args.disk or args.amp:
            cells.append("%.3f" % r["settled_per_m"])
        if args.callgrind:
            cells.append("%.0f" % r["ir_per_value"])
        print("| " + " | ".join(cells) + " |", flush=True)
    if args.repeat > 1:
        med = lambda k: statistics.median(r[k] for r in rows)  # noqa: E731
        cells = ["median", "{:,}".format(nvals), "%.2f" % med("wall"), "%.3f" % med("cpu_per_m"),
                 "%.1f" % med("hwm_mib"), str(med("retries")), "%.3f" % med("http_per_m"),
                 "%.0f" % med("flt_per_m")]
        if args.disk:
            cells.append("%.3f" % med("bpv"))
        if args.amp:
            cells.append("%.2f" % med("amp"))
        if args.disk or args.amp:
            cells.append("%.3f" % med("settled_per_m"))
        if args.callgrind:
            cells.append("%.0f" % med("ir_per_value"))
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
