#!/usr/bin/env python3
"""Compaction work for a steady stream, flushed every N seconds of data time.

    bench/ingest/realtime_amp.py --neoedge build-rel/agent/neoedge --file F.lp
        [--flush-every 600] [--batch 1000] [--repeat 1] [--callgrind OUT]

A gateway taking data at wall-clock pace flushes its memtable every
storage.memtable_max_age (600 s by default) unless it fills first, and its
writes never pause for long. Replaying that in real time would take hours,
so this posts the file (time-ordered line protocol) as fast as one
connection goes, and asks for a flush (POST /api/v1/flush, from a second
thread while the writes go on, as the store's own age check would) each
time the batches' timestamps cross a multiple of --flush-every seconds:
the store sees the same flushes, the same data and no pause in the writes. Once the
file is in, it flushes, waits until the data dir settled and prints one
row per run: flushes asked for, segment bytes merges wrote per byte
flushes wrote, disk bytes per value once settled, and CPU seconds of the
server per million values from the start until settled. --callgrind OUT
runs the server under valgrind's callgrind and adds its instructions per
value until it stopped (repeatable, unlike CPU seconds). Never asserts.
"""
import argparse
import http.client
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "compare"))
import ingest_cpu  # noqa: E402
import load  # noqa: E402
import procstat  # noqa: E402


def last_ts_s(body):
    """Timestamp, in seconds, of the last line of a batch (ns precision)."""
    line = body.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    return int(line.rsplit(b" ", 1)[1]) // 1_000_000_000


def post(conn, path, body):
    conn.request("POST", path, body, {"Content-Type": "text/plain; charset=utf-8"})
    r = conn.getresponse()
    text = r.read()
    if r.status not in (200, 204):
        raise SystemExit("%s: HTTP %d: %s" % (path, r.status, text[:300]))


def flush_async(port, prev):
    """Starts a flush in a thread once the one before (prev) is done."""
    if prev:
        prev.join()
    t = threading.Thread(target=ingest_cpu.flush, args=(port,))
    t.start()
    return t


def one_run(args, work, nvals):
    tmp = tempfile.mkdtemp(prefix="realtime-amp-")
    try:
        p, port = ingest_cpu.start(args.neoedge, tmp, args.callgrind)
        cpu0 = procstat.cpu_seconds(p.pid)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        flushes, period, flusher = 0, None, None
        for body, _ in work:
            post(conn, "/write?db=bench", body)
            k = last_ts_s(body) // args.flush_every
            if period is not None and k != period:
                flusher = flush_async(port, flusher)
                flushes += 1
            period = k
        conn.close()
        if flusher:
            flusher.join()
        ingest_cpu.flush(port)
        disk = ingest_cpu.settled_bytes(os.path.join(tmp, "data"),
                                        20.0 if args.callgrind else 3.0, limit=600.0)
        cpu = procstat.cpu_seconds(p.pid) - cpu0
        c = ingest_cpu.store_counters(port, ("neoedge_store_flush_bytes_total",
                                             "neoedge_store_compaction_bytes_total"))
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=600)
        amp = c["neoedge_store_compaction_bytes_total"] / max(
            c["neoedge_store_flush_bytes_total"], 1.0)
        row = {"flushes": flushes, "amp": amp, "bpv": disk / nvals,
               "cpu_per_m": cpu / nvals * 1e6}
        if args.callgrind:
            row["ir"] = ingest_cpu.callgrind_total(args.callgrind) / nvals
        return row
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ingest_cpu.common_args(ap, 1000)
    ap.add_argument("--flush-every", type=int, default=600, help="seconds of data time")
    args = ap.parse_args()
    work = load.batches(args.file, args.batch)
    nvals = sum(n for _, n in work)
    cols = ["run", "values", "flushes asked", "merged B / flushed B", "disk B / value",
            "CPU s / M values until settled"]
    if args.callgrind:
        cols.append("Ir / value (whole process)")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    rows = []
    for i in range(args.repeat):
        r = one_run(args, work, nvals)
        rows.append(r)
        cells = [str(i + 1), "{:,}".format(nvals), str(r["flushes"]), "%.2f" % r["amp"],
                 "%.3f" % r["bpv"], "%.3f" % r["cpu_per_m"]]
        if args.callgrind:
            cells.append("%.0f" % r["ir"])
        print("| " + " | ".join(cells) + " |", flush=True)
    if args.repeat > 1:
        med = lambda k: statistics.median(r[k] for r in rows)  # noqa: E731
        cells = ["median", "{:,}".format(nvals), "%d" % med("flushes"), "%.2f" % med("amp"),
                 "%.3f" % med("bpv"), "%.3f" % med("cpu_per_m")]
        if args.callgrind:
            cells.append("%.0f" % med("ir"))
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
