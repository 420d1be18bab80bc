#!/usr/bin/python3
"""soak_watch.py - samples the soak cluster, judges the samples, plots them.

  soak_watch.py sample --node NAME,HTTP_PORT,PID,DATA_DIR ... --interval S
                       --duration S --out soak.csv
  soak_watch.py check  --csv soak.csv --node-budget NAME,MAX_DISK_BYTES,AGE(0|1) ...
                       [--warmup S] [--disk-slack BYTES] [--fd-slack N]
  soak_watch.py plot   --csv soak.csv --png soak.png [--budget BYTES] [--warmup S]

sample: every INTERVAL seconds (absolute schedule), one CSV row per node:
  t_s,node,alive,health,rss_bytes,open_fds,disk_bytes,points_written,
  segments,segment_bytes,memtable_bytes,flushes,compactions,evicted,
  evicted_bytes,rejected,members_alive,health_reason,heap_in_use_bytes,
  heap_free_bytes
rss_bytes and open_fds come from the node's /metrics
(process_resident_memory_bytes, process_open_fds), the heap figures from
neoedge_heap_in_use_bytes and neoedge_heap_free_bytes (glibc's view of the
C heap: RSS growing while in-use stays flat is the allocator keeping freed
memory, in-use growing is a structure growing); disk_bytes is the sum of
the apparent sizes of every file under the node's data dir; alive is read
from /proc (a zombie counts as dead); health is the /health status, or
"unreachable" when it did not answer; health_reason lists the checks that
are not ok as name=status:reason, separated by ';' (never a comma).
Values a node did not report are left empty.

check: the rules, per node. Every sample counts for liveness, health and
disk; the flatness rules compare quarters of the time after the warm-up
(samples with t_s >= --warmup), when the store has reached its steady state
(disk at its budget, memtables full):
  - the process was alive at every sample; /health was ok, or degraded
    only because a member was suspect (transient probe misses under load);
    at most 5% of the samples unreachable; three alive members at the end;
  - fds: max(last quarter) <= max(first quarter) + fd_slack;
  - RSS: median(last quarter) <= 1.5 * median(first quarter) + 8 MiB;
  - heap in use (when reported): median(last quarter) <= 1.1 * median(first
    quarter) + 4 MiB: a structure that grows with time shows here first;
  - disk: every sample <= max_disk + disk_slack (compaction writes its
    output before unlinking its inputs, so the slack covers one segment);
  - ingest: points/s in the last quarter > 50% of the first quarter;
  - the store kept working: flushes and compactions in the second half,
    segments evicted by retention, nothing rejected.
Prints one line per verdict ("ok - ..." / "FAIL: ...") and a per-node table;
exits 1 if any rule failed.
"""

import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request

FIELDS = ["t_s", "node", "alive", "health", "rss_bytes", "open_fds", "disk_bytes",
          "points_written", "segments", "segment_bytes", "memtable_bytes", "flushes",
          "compactions", "evicted", "evicted_bytes", "rejected", "members_alive",
          "health_reason", "heap_in_use_bytes", "heap_free_bytes"]

METRICS = {
    "process_resident_memory_bytes": "rss_bytes",
    "process_open_fds": "open_fds",
    "neoedge_store_points_written_total": "points_written",
    "neoedge_store_segments": "segments",
    "neoedge_store_segment_bytes": "segment_bytes",
    "neoedge_store_memtable_bytes": "memtable_bytes",
    "neoedge_store_flushes_total": "flushes",
    "neoedge_store_compactions_total": "compactions",
    "neoedge_store_segments_evicted_total": "evicted",
    "neoedge_store_evicted_bytes_total": "evicted_bytes",
    "neoedge_store_points_rejected_total": "rejected",
    "neoedge_heap_in_use_bytes": "heap_in_use_bytes",
    "neoedge_heap_free_bytes": "heap_free_bytes",
}
METRIC_LINE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
MIB = 1 << 20

# ---- sampling ----------------------------------------------------------------


def http_get(port, path, timeout):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
            return r.read().decode()
    except urllib.error.HTTPError as e:  # /health answers 503 when failing
        return e.read().decode()
    except Exception:
        return None


def proc_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except OSError:
        return False


def dir_bytes(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass  # removed while walking (eviction, compaction)
    return total


def parse_metrics(text):
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = METRIC_LINE.match(line)
        if m and m.group(1) in METRICS:
            key = METRICS[m.group(1)]
            out[key] = out.get(key, 0) + float(m.group(3))
    return {k: int(v) for k, v in out.items()}


def health_of(text):
    if text is None:
        return "unreachable", ""
    try:
        h = json.loads(text)
    except ValueError:
        return "unreachable", "bad json"
    bad = ["%s=%s:%s" % (c.get("name"), c.get("status"), c.get("reason", ""))
           for c in h.get("checks", []) if c.get("status") != "ok"]
    return h.get("status", "unknown"), ";".join(bad).replace(",", ";")


def members_alive(text):
    try:
        return json.loads(text)["counts"]["alive"]
    except Exception:
        return ""


def sample_node(node, t):
    name, port, pid, data = node
    row = {"t_s": "%.1f" % t, "node": name, "alive": int(proc_alive(pid))}
    status, reason = health_of(http_get(port, "/health", 10))
    row["health"], row["health_reason"] = status, reason
    text = http_get(port, "/metrics", 10)
    if text is not None:
        row.update(parse_metrics(text))
    row["disk_bytes"] = dir_bytes(data)
    row["members_alive"] = members_alive(http_get(port, "/api/v1/cluster", 10))
    return row


def cmd_sample(a):
    nodes = []
    for spec in a.node:
        name, port, pid, data = spec.split(",", 3)
        nodes.append((name, int(port), int(pid), data))
    start = time.monotonic()
    k = 0
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, restval="")
        w.writeheader()
        while True:
            due = start + k * a.interval
            if due - start > a.duration:
                break
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            t = time.monotonic() - start
            for n in nodes:
                w.writerow(sample_node(n, t))
            f.flush()
            k += 1
    return 0

# ---- checking ----------------------------------------------------------------


class Verdicts:
    def __init__(self):
        self.fails = 0
        self.checks = 0

    def expect(self, ok, what):
        self.checks += 1
        if ok:
            print("ok - " + what)
        else:
            self.fails += 1
            print("FAIL: " + what)


def num(row, key):
    v = row.get(key, "")
    return float(v) if v not in ("", None) else None


def series(rows, key):
    return [(float(r["t_s"]), num(r, key)) for r in rows if num(r, key) is not None]


def quarters(pts):
    """First and last quarter (by sample time) of [(t, v)]."""
    if not pts:
        return [], []
    t0, t1 = pts[0][0], pts[-1][0]
    q = (t1 - t0) / 4.0
    first = [p for p in pts if p[0] <= t0 + q]
    last = [p for p in pts if p[0] >= t1 - q]
    return first, last


def rate(pts):
    if len(pts) < 2 or pts[-1][0] <= pts[0][0]:
        return 0.0
    return (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0])


def growth(pts, frm):
    """Increase of a counter from time frm to the end."""
    after = [v for t, v in pts if t >= frm]
    return after[-1] - after[0] if len(after) >= 2 else 0


def check_node(v, name, rows, max_disk, age, warmup, disk_slack, fd_slack):
    n = len(rows)
    v.expect(n >= 8, "%s: %d samples (>= 8)" % (name, n))
    if n < 8:
        return {}
    dead = sum(1 for r in rows if r["alive"] != "1")
    v.expect(dead == 0, "%s: process alive at every sample (%d dead)" % (name, dead))
    unreach = sum(1 for r in rows if r["health"] == "unreachable")
    v.expect(unreach <= 0.05 * n, "%s: /health answered (%d of %d unreachable)" % (name, unreach, n))
    bad = [r for r in rows if r["health"] not in ("ok", "unreachable") and
           not (r["health"] == "degraded" and all("suspect" in c for c in
                                                  r["health_reason"].split(";")))]
    why = bad[0]["health"] + " " + bad[0]["health_reason"] if bad else ""
    v.expect(not bad, "%s: health ok or degraded only by a suspect member (%d bad%s)"
             % (name, len(bad), ": " + why if why else ""))
    suspect = sum(1 for r in rows if r["health"] == "degraded")
    last_alive = [r["members_alive"] for r in rows if r["members_alive"] != ""]
    v.expect(bool(last_alive) and last_alive[-1] == "3",
             "%s: three alive members at the end (%s; %d degraded samples)"
             % (name, last_alive[-1] if last_alive else "none", suspect))

    steady = [r for r in rows if float(r["t_s"]) >= warmup]
    v.expect(len(steady) >= 8, "%s: %d samples after the %gs warm-up (>= 8)" % (name, len(steady), warmup))
    if len(steady) < 8:
        return {}
    fds = series(steady, "open_fds")
    f1, f4 = quarters(fds)
    fd1, fd4 = max(x for _, x in f1), max(x for _, x in f4)
    v.expect(fd4 <= fd1 + fd_slack, "%s: fds flat (last-quarter max %d <= first-quarter max %d + %d)"
             % (name, fd4, fd1, fd_slack))

    rss = series(steady, "rss_bytes")
    r1, r4 = quarters(rss)
    m1, m4 = statistics.median(x for _, x in r1), statistics.median(x for _, x in r4)
    bound = 1.5 * m1 + 8 * MIB
    v.expect(m4 <= bound, "%s: RSS flat (last-quarter median %.1f MiB <= 1.5 x %.1f + 8 MiB)"
             % (name, m4 / MIB, m1 / MIB))

    heap = series(steady, "heap_in_use_bytes")
    if len(heap) >= 8:  # glibc builds; a sanitizer's allocator is not seen
        h1, h4 = quarters(heap)
        hm1, hm4 = statistics.median(x for _, x in h1), statistics.median(x for _, x in h4)
        v.expect(hm4 <= 1.1 * hm1 + 4 * MIB,
                 "%s: heap in use flat (last-quarter median %.1f MiB <= 1.1 x %.1f + 4 MiB)"
                 % (name, hm4 / MIB, hm1 / MIB))

    disk = series(rows, "disk_bytes")
    dmax = max(x for _, x in disk)
    if max_disk > 0:
        v.expect(dmax <= max_disk + disk_slack, "%s: disk max %.2f MiB <= budget %.2f + slack %.2f MiB"
                 % (name, dmax / MIB, max_disk / MIB, disk_slack / MIB))

    pts = series(steady, "points_written")
    p1, p4 = quarters(pts)
    rt1, rt4 = rate(p1), rate(p4)
    v.expect(rt1 > 0 and rt4 > 0.5 * rt1, "%s: ingest kept up (last quarter %.0f points/s > 50%% of first %.0f)"
             % (name, rt4, rt1))

    half = (float(steady[0]["t_s"]) + float(steady[-1]["t_s"])) / 2.0
    fl, co = growth(series(rows, "flushes"), half), growth(series(rows, "compactions"), half)
    v.expect(fl > 0 and co > 0, "%s: flushes (%d) and compactions (%d) in the second half"
             % (name, fl, co))
    ev = series(rows, "evicted")
    evicted = ev[-1][1] if ev else 0
    v.expect(evicted > 0, "%s: retention evicted %d segments (%s)"
             % (name, evicted, "max_age" if age else "max_disk"))
    rej = series(rows, "rejected")
    v.expect(not rej or rej[-1][1] == 0, "%s: no point rejected (%d)" % (name, rej[-1][1] if rej else 0))
    return {"rss1": m1, "rss4": m4, "fd1": fd1, "fd4": fd4, "dmax": dmax, "rate1": rt1,
            "rate4": rt4, "evicted": evicted, "flushes": series(rows, "flushes")[-1][1],
            "compactions": series(rows, "compactions")[-1][1], "suspect": suspect}


def cmd_check(a):
    with open(a.csv) as f:
        rows = list(csv.DictReader(f))
    v = Verdicts()
    table = []
    for spec in a.node_budget:
        name, max_disk, age = spec.split(",")
        mine = [r for r in rows if r["node"] == name]
        s = check_node(v, name, mine, int(max_disk), age == "1", a.warmup, a.disk_slack,
                       a.fd_slack)
        if s:
            table.append((name, s))
    print("node   rss Q1->Q4 (MiB)   fds Q1->Q4   disk max (MiB)   points/s Q1->Q4   "
          "flushes compactions evicted")
    for name, s in table:
        print("%-6s %6.1f -> %6.1f    %4d -> %4d   %8.2f         %6.0f -> %6.0f    %7d %11d %7d"
              % (name, s["rss1"] / MIB, s["rss4"] / MIB, s["fd1"], s["fd4"], s["dmax"] / MIB,
                 s["rate1"], s["rate4"], s["flushes"], s["compactions"], s["evicted"]))
    print("%d of %d soak checks failed" % (v.fails, v.checks) if v.fails
          else "all %d soak checks passed" % v.checks)
    return 1 if v.fails else 0

# ---- plotting ----------------------------------------------------------------


PLOT = r"""
set terminal pngcairo size 1100,1000 font ",10"
set output '%(png)s'
set key top left
set grid
set yrange [0:*]
set autoscale xfixmax
set offsets 0, 0, graph 0.1, 0
%(warmup)s
set multiplot layout 3,1 title 'neoedge soak: 3 nodes, %(dur)s'
set ylabel 'RSS (MiB)'
plot for [i=0:%(last)d] '%(dat)s' index i using 1:($2/1048576) with lines title columnheader(1)
set ylabel 'open fds'
plot for [i=0:%(last)d] '%(dat)s' index i using 1:3 with lines title columnheader(1)
set ylabel 'data dir (MiB)'
set xlabel 'seconds'
plot for [i=0:%(last)d] '%(dat)s' index i using 1:($4/1048576) with lines title columnheader(1)%(budget)s
unset multiplot
"""


def cmd_plot(a):
    """One gnuplot data block per node (t, rss, fds, disk), then the plot."""
    with open(a.csv) as f:
        rows = list(csv.DictReader(f))
    names = sorted(set(r["node"] for r in rows))
    dat = a.png + ".dat"
    with open(dat, "w") as f:
        for name in names:
            f.write("%s\n" % name)
            for r in rows:
                if r["node"] == name and r["rss_bytes"] and r["open_fds"]:
                    f.write("%s %s %s %s\n" % (r["t_s"], r["rss_bytes"], r["open_fds"],
                                              r["disk_bytes"]))
            f.write("\n\n")
    dur = "%.0f s" % float(rows[-1]["t_s"]) if rows else "no samples"
    budget = (", %f title 'max\\_disk' with lines dashtype 2 lc rgb 'black'" % (a.budget / MIB)
              if a.budget else "")
    warmup = ("set arrow from %g, graph 0 to %g, graph 1 nohead dashtype 3\n"
              "set label 'warm-up' at %g, graph 0.06 left offset 0.5, 0" % (a.warmup, a.warmup, a.warmup)
              if a.warmup > 0 else "")
    script = PLOT % {"png": a.png, "dat": dat, "dur": dur, "budget": budget,
                     "last": len(names) - 1, "warmup": warmup}
    r = subprocess.run(["gnuplot"], input=script.encode(), stderr=subprocess.PIPE)
    os.unlink(dat)
    if r.returncode != 0:
        print(r.stderr.decode(), file=sys.stderr)
    return r.returncode


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--node", action="append", required=True)
    s.add_argument("--interval", type=float, required=True)
    s.add_argument("--duration", type=float, required=True)
    s.add_argument("--out", required=True)
    c = sub.add_parser("check")
    c.add_argument("--csv", required=True)
    c.add_argument("--node-budget", action="append", required=True)
    c.add_argument("--warmup", type=float, default=0)
    c.add_argument("--disk-slack", type=int, default=0)
    c.add_argument("--fd-slack", type=int, default=8)
    g = sub.add_parser("plot")
    g.add_argument("--csv", required=True)
    g.add_argument("--png", required=True)
    g.add_argument("--budget", type=int, default=0)
    g.add_argument("--warmup", type=float, default=0)
    a = p.parse_args()
    return {"sample": cmd_sample, "check": cmd_check, "plot": cmd_plot}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
