"""Turns the measured figures into a table, bench/results/latest.md and PNGs.

Every row shows both figures, the ratio neoedge : InfluxDB of the figures
as shown, and the advantage (how many times better neoedge is, whichever
way "better" points for that row). A target is an advantage to reach; the
"met" column compares against it and never changes the exit status.
Charts are drawn by gnuplot from data files written under the temp dir.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "integration", "influx_compat"))
from compare import diff  # noqa: E402

MIB = 1024 * 1024

# (metric key, dataset or None, advantage to reach, how the target reads)
TARGETS = {
    ("cpu", "S1"): (10.0, ">= 10x values per CPU-s"),
    ("cpu", "I1"): (10.0, ">= 10x values per CPU-s"),
    ("disk", "S1"): (4.0, "<= 0.25x"),
    ("disk", "I1"): (1.25, "<= 0.8x"),
    ("query", None): (20.0, ">= 20x faster"),
    ("peak", None): (5.0, "<= 0.2x"),
    ("idle", None): (2.0, "<= 0.5x"),
}


SHORT = {"cpu": "values per CPU-s", "peak": "peak RSS", "disk": "bytes/value",
         "idle": "idle RSS"}


class Row:
    def __init__(self, label, data, ix, ne, fmt, lower_better, key, note=""):
        self.label, self.data, self.ix, self.ne = label, data, ix, ne
        self.fmt, self.lower_better, self.note = fmt, lower_better, note
        self.key = key
        t = TARGETS.get((key, data)) or TARGETS.get((key, None))
        self.target, self.target_text = t if t else (None, "")

    def ok(self):
        return self.ix is not None and self.ne is not None and self.ix > 0 and self.ne > 0

    def ratio(self):
        return self.ne / self.ix if self.ok() else None

    def advantage(self):
        if not self.ok():
            return None
        return self.ix / self.ne if self.lower_better else self.ne / self.ix

    def met(self):
        if self.target is None:
            return ""
        adv = self.advantage()
        if adv is None:
            return "not measured"
        return "yes" if adv >= self.target else "no"

    def cells(self):
        def f(v):
            if v is None:
                return "failed"
            return "{:,.0f}".format(v) if self.fmt == "%.0f" else self.fmt % v
        r = self.ratio()
        rs = "-" if r is None else "%.3gx (%.3gx %s)" % (
            r, self.advantage(), "better" if self.advantage() >= 1 else "worse")
        return [self.label, self.data, f(self.ix), f(self.ne), rs,
                self.target_text, self.met()]


def by(runs, engine, ds):
    for r in runs:
        if r["engine"] == engine and r["dataset"] == ds:
            return r
    return {}


def build_rows(sets, runs):
    rows = []
    for s in sets:
        ds = s["name"]
        ix, ne = by(runs, "influxdb", ds), by(runs, "neoedge", ds)
        rows.append(Row("HTTP ingest, field values/s (wall)", ds, ix.get("rate"),
                        ne.get("rate"), "%.0f", False, "rate"))
        rows.append(Row("ingest CPU s per million values", ds, ix.get("cpu_per_mvalue"),
                        ne.get("cpu_per_mvalue"), "%.3f", True, "cpu"))
        rows.append(Row("peak RSS during ingest, MiB", ds,
                        ix.get("peak_rss") and ix["peak_rss"] / MIB,
                        ne.get("peak_rss") and ne["peak_rss"] / MIB, "%.1f", True, "peak"))
        rows.append(Row("disk bytes per field value", ds, ix.get("bytes_per_value"),
                        ne.get("bytes_per_value"), "%.3f", True, "disk"))
        rows.append(Row("  same, settled but before a restart", ds,
                        ix.get("disk_before_restart") and ix["disk_before_restart"] / s["values"],
                        ne.get("disk_before_restart") and ne["disk_before_restart"] / s["values"],
                        "%.3f", True, "disk-live"))
        for q in sorted(set(ix.get("queries", {})) | set(ne.get("queries", {}))):
            ti = ix.get("queries", {}).get(q, (None, None))[0]
            tn = ne.get("queries", {}).get(q, (None, None))[0]
            rows.append(Row("%s latency ms (best of N)" % q, ds, ti and ti * 1000,
                            tn and tn * 1000, "%.3f", True, "query"))
        for f, label in (("ping", "floor: empty request (GET /ping)"),
                         ("show-db", "floor: SHOW DATABASES")):
            fi, fn = ix.get("floors", {}).get(f), ne.get("floors", {}).get(f)
            if fi is not None or fn is not None:
                rows.append(Row("%s ms (best of N)" % label, ds, fi and fi * 1000,
                                fn and fn * 1000, "%.3f", True, "floor"))
    ix, ne = by(runs, "influxdb", sets[0]["name"]), by(runs, "neoedge", sets[0]["name"])
    rows.append(Row("idle RSS after start, MiB", "-", ix.get("idle_rss") and
                    ix["idle_rss"] / MIB, ne.get("idle_rss") and ne["idle_rss"] / MIB,
                    "%.1f", True, "idle"))
    return rows


def without_time(answer):
    """A copy of a /query answer with the time column taken out of every series."""
    if not isinstance(answer, dict):
        return answer
    out = {"results": []}
    for r in answer.get("results", []):
        r2 = dict(r)
        series = []
        for sr in r.get("series", []):
            sr2 = dict(sr)
            cols = sr.get("columns", [])
            if "time" in cols:
                k = cols.index("time")
                sr2["columns"] = cols[:k] + cols[k + 1:]
                sr2["values"] = [v[:k] + v[k + 1:] for v in sr.get("values", [])]
            series.append(sr2)
        if "series" in r:
            r2["series"] = series
        out["results"].append(r2)
    return out


def equality(sets, runs):
    """[(query, dataset, verdict)] comparing both engines' answers."""
    out = []
    for s in sets:
        ix, ne = by(runs, "influxdb", s["name"]), by(runs, "neoedge", s["name"])
        for q in sorted(ix.get("queries", {})):
            if q not in ne.get("queries", {}):
                out.append((q, s["name"], "not run on neoedge"))
                continue
            a, b = ix["queries"][q][1], ne["queries"][q][1]
            d = diff(a, b)
            if d is None:
                out.append((q, s["name"], "same"))
            elif diff(without_time(a), without_time(b)) is None:
                out.append((q, s["name"], "same values, different time column (a selector "
                            "picking among tied values): " + d[:120]))
            else:
                out.append((q, s["name"], "DIFFERENT: " + d[:160]))
    return out


def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(lines)


def text_table(header, rows):
    cols = [header] + [[str(c) for c in r] for r in rows]
    w = [max(len(c[i]) for c in cols) for i in range(len(header))]
    fmt = "  ".join("%%-%ds" % x for x in w)
    out = [fmt % tuple(header), fmt % tuple("-" * x for x in w)]
    out += [fmt % tuple(r) for r in cols[1:]]
    return "\n".join(out)


def gnuplot(script, tmp):
    path = os.path.join(tmp, "chart.gp")
    with open(path, "w") as f:
        f.write(script)
    r = subprocess.run(["gnuplot", path], capture_output=True, text=True)
    if r.returncode != 0:
        print("gnuplot: " + r.stderr.strip()[:500], file=sys.stderr)
        return False
    return True


def chart_ratios(rows, results, tmp):
    dat = os.path.join(tmp, "ratios.dat")
    n = 0
    with open(dat, "w") as f:
        for r in rows:
            if r.target is None or r.advantage() is None:
                continue
            label = SHORT.get(r.key, r.label.split(" ")[0])
            label = label if r.data == "-" else "%s %s" % (label, r.data)
            f.write('"%s" %g %g\n' % (label.replace('"', "'"), r.advantage(), r.target))
            n += 1
    if n == 0:
        return None
    out = os.path.join(results, "ratios.png")
    ok = gnuplot("""set terminal pngcairo size 1100,600 font ",10"
set output "%s"
set title "neoedge advantage over InfluxDB 1.6 (times better; log scale)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set yrange [0.1:*]
set grid ytics
set xtics rotate by -30 scale 0
set ylabel "times better (InfluxDB / neoedge; rates: neoedge / InfluxDB)"
set key top left
plot "%s" using 2:xtic(1) title "measured" lc rgb "#2e7d32", \\
     "" using 3 title "target" lc rgb "#bdbdbd"
""" % (out, dat), tmp)
    return out if ok else None


def chart_ingest(ds, runs, results, tmp):
    files = []
    for engine in ("influxdb", "neoedge"):
        samples = by(runs, engine, ds).get("samples")
        if not samples:
            continue
        dat = os.path.join(tmp, "ingest-%s-%s.dat" % (ds, engine))
        with open(dat, "w") as f:
            for (t0, v0), (t1, v1) in zip(samples, samples[1:]):
                if t1 > t0:
                    f.write("%.2f %.1f\n" % (t1, (v1 - v0) / (t1 - t0) / 1e6))
        files.append((engine, dat))
    if not files:
        return None
    out = os.path.join(results, "ingest-%s.png" % ds.lower())
    plots = ", ".join('"%s" using 1:2 with linespoints title "%s"'
                      % (dat, "InfluxDB 1.6" if e == "influxdb" else "neoedge")
                      for e, dat in files)
    ok = gnuplot("""set terminal pngcairo size 900,450 font ",10"
set output "%s"
set title "HTTP ingest of %s: million field values/s, sampled each second"
set xlabel "seconds since start"
set ylabel "M values/s"
set grid
set yrange [0:*]
plot %s
""" % (out, ds, plots), tmp)
    return out if ok else None


def problems(runs, mqtt, eq):
    """(failures that make the run fail, findings worth reading)."""
    fails, notes = [], []
    for r in runs + mqtt:
        who = r.get("engine", "neoedge (mqtt %s)" % r.get("how"))
        if r.get("error"):
            fails.append(r["error"])
        for e in r.get("query_errors", []):
            fails.append("%s query error %s" % (who, e))
        fails += r.get("round_errors", [])
        for key in ("exit_status_first", "exit_status"):
            st = r.get(key)
            if st not in (None, 0):
                notes.append("%s on %s exited with status %s after SIGTERM"
                             % (who, r.get("dataset", "mqtt"), st))
        if r.get("retries"):
            notes.append("%s on %s answered 503 (backpressure) %d times during ingest; "
                         "each batch was retried after a pause"
                         % (who, r.get("dataset"), r["retries"]))
        if r.get("settled") is False:
            notes.append("%s on %s: data dir still changing when measured"
                         % (who, r.get("dataset")))
        lines, total = r.get("log_problems", ([], 0))
        if total and who.startswith("neoedge"):
            notes.append("%s log on %s: %d warning/error lines, first: %s"
                         % (who, r.get("dataset", "mqtt"), total, lines[0]))
    for q, ds, verdict in eq:
        if verdict != "same":
            notes.append("%s on %s: answers differ: %s" % (q, ds, verdict))
    return fails, notes


def mqtt_rows(mqtt):
    out = []
    for m in mqtt:
        how = ("mosquitto_pub -l, 1 line/message" if m["how"] == "mosquitto_pub"
               else "paho client, 100 lines/message")
        if "rate" not in m:
            out.append([how, "failed", "", "", "", ""])
            continue
        out.append([how, "{:,} / {:,}".format(m["got"], m["lines"]), "{:,.0f}".format(m["rate"]),
                    "%.2f" % m["ne_cores"], "%.2f" % m["mq_cores"],
                    "%.1f" % (m["peak_rss"] / MIB)])
    return out


FOOTPRINT_HEADER = ["footprint", "InfluxDB 1.6", "neoedge", "neoedge target", "met"]


def footprint_rows(info, runs, sets):
    """Absolute footprint targets: the stripped binary and idle RSS."""
    fp = info.get("footprint", {})
    rows = []
    nb, ib = fp.get("neoedge_binary"), fp.get("influxd_binary")
    if nb:
        rows.append(["stripped binary, MiB", "%.2f" % (ib / MIB) if ib else "-",
                     "%.2f" % (nb / MIB), "<= 2 MiB", "yes" if nb <= 2 * MIB else "no"])
    ix, ne = by(runs, "influxdb", sets[0]["name"]), by(runs, "neoedge", sets[0]["name"])
    if ne.get("idle_rss"):
        rows.append(["idle RSS after start, MiB",
                     "%.1f" % (ix["idle_rss"] / MIB) if ix.get("idle_rss") else "-",
                     "%.1f" % (ne["idle_rss"] / MIB), "<= 8 MiB",
                     "yes" if ne["idle_rss"] <= 8 * MIB else "no"])
    return rows


def ingest_rounds_text(info, sets, runs):
    """Lines saying what each ingest round measured (run.py ingest_medians),
    followed by a blank line; none when there was one round."""
    if info.get("ingest_rounds", 1) <= 1:
        return []
    out = ["The ingest rows are medians of %d rounds per dataset and engine, each "
           "into a freshly started engine, the engines taking turns (the first "
           "round, the one the disk, query and chart figures come from, InfluxDB "
           "first; then neoedge first, then InfluxDB first, and so on). Each round, "
           "in order:" % info["ingest_rounds"], ""]
    for s in sets:
        for engine, label in (("influxdb", "InfluxDB"), ("neoedge", "neoedge")):
            rounds = by(runs, engine, s["name"]).get("rounds")
            if not rounds:
                continue
            out.append("- %s %s: CPU s per million values %s; peak RSS MiB %s" % (
                s["name"], label, ", ".join("%.3f" % r["cpu_per_mvalue"] for r in rounds),
                ", ".join("%.1f" % (r["peak_rss"] / MIB) for r in rounds)))
    return out + [""]


def write_all(results, tmp, info, sets, runs, mqtt):
    """Prints the table, writes latest.md and charts; True if all steps ran."""
    rows = build_rows(sets, runs)
    eq = equality(sets, runs)
    fails, notes = problems(runs, mqtt, eq)
    header = ["metric", "data", "InfluxDB 1.6", "neoedge", "neoedge : InfluxDB",
              "target", "met"]
    cells = [r.cells() for r in rows]
    mq_header = ["MQTT via mosquitto into neoedge (S1)", "points in / sent", "points/s",
                 "neoedge cores", "mosquitto cores", "neoedge peak RSS MiB"]
    mq = mqtt_rows(mqtt)
    print()
    print(text_table(header, cells))
    fp = footprint_rows(info, runs, sets)
    print()
    print(text_table(FOOTPRINT_HEADER, fp))
    print()
    print(text_table(mq_header, mq))
    print()
    for q, ds, v in eq:
        print("%s (%s): %s" % (q, ds, v))
    for f in fails:
        print("FAILED: " + f)
    for n in notes:
        print("note: " + n)

    charts = [chart_ratios(rows, results, tmp)]
    charts += [chart_ingest(s["name"], runs, results, tmp) for s in sets]
    m = info["machine"]
    met = [r for r in rows if r.target is not None]
    lines = [
        "# neoedge beside InfluxDB 1.6",
        "",
        "Generated by `bench/compare.sh%s` on %s UTC." % (
            " --quick" if info["quick"] else "", info["started"].strftime("%Y-%m-%d %H:%M")),
        "",
        "- Machine: %s, %d logical cores, %.1f GiB RAM, Linux %s" % (
            m["cpu"], m["cores"], m["ram_gib"], m["kernel"]),
        "- neoedge: %s" % info["neoedge_version"],
        "- InfluxDB: %s" % info["influx_version"],
        "- mosquitto: %s" % info["mosquitto_version"],
        "- Load average (1 min) at start / end: %s / %s. Other work shared this "
        "machine: wall-clock rates are noisy, CPU seconds per value much less so."
        % (info.get("load_start", "?"), info.get("load_end", "?")),
        "",
        "## Data",
        "",
        md_table(["set", "file", "bytes", "lines", "field values", "gen_iot.py arguments"],
                 [[s["name"], s["file"], "{:,}".format(s["bytes"]), "{:,}".format(s["lines"]),
                   "{:,}".format(s["values"]), "`%s`" % " ".join(s["args"])] for s in sets]),
        "",
        "## Results",
        "",
        md_table(header, cells),
        "",
        "Targets met: %d of %d." % (sum(1 for r in met if r.met() == "yes"), len(met)),
        "",
    ] + ingest_rounds_text(info, sets, runs) + [
        "The floor rows are what one request costs each engine with nothing to "
        "compute (an empty GET /ping and SHOW DATABASES), from the same client right "
        "after that dataset's queries: no query answers faster than its engine's floor, "
        "so a query whose InfluxDB time divided by 20 is below neoedge's floor cannot "
        "show 20x, however little the query itself costs.",
        "",
        ("The --quick datasets are small: fixed costs (file headers, the series "
         "index, start-up) weigh more per value than on S1 and I1, and queries touch "
         "less data. Run without --quick for the standard datasets."
         if info["quick"] else "Standard datasets S1 and I1."),
        "",
        md_table(FOOTPRINT_HEADER, fp),
        "",
        "The binary is a copy of the one measured, stripped with `strip`; InfluxDB's is "
        "Debian's `influxd`. Idle RSS: the same neoedge configuration as the rows above "
        "(HTTP only, no MQTT or CoAP).",
        "",
        md_table(mq_header, mq),
        "",
        "Query answers (InfluxDB vs neoedge, floats to 1e-9 relative):",
        "",
    ]
    lines += ["- %s on %s: %s" % (q, ds, v) for q, ds, v in eq]
    lines += ["", "## Charts", ""]
    lines += ["![%s](%s)" % (os.path.basename(c), os.path.basename(c)) for c in charts if c]
    lines += ["", "## Problems seen", ""]
    lines += ["- FAILED: " + f for f in fails] + ["- " + n for n in notes]
    if not fails and not notes:
        lines.append("- none")
    lines += ["", "## Method", "",
              "- Both engines run one at a time on loopback, each started fresh with its own "
              "temp data dir for each dataset: InfluxDB first, then neoedge.",
              "- HTTP ingest: the file in batches of 5,000 lines held in memory, POST "
              "/write over 2 keep-alive connections; a 503 (backpressure) is retried after "
              "a growing pause, as InfluxDB clients do. Rate = field values acknowledged / wall "
              "time. CPU = utime+stime of the server process (/proc/PID/stat) before and "
              "after. Peak RSS = VmHWM right after the last write. These three are "
              "medians of the ingest rounds (see below the results table).",
              "- Durability alike: neoedge `storage.durability: interval` (fsync at least "
              "every 100 ms), InfluxDB `wal-fsync-delay = 100ms`.",
              "- Disk: InfluxDB with `cache-snapshot-write-cold-duration = 2s` and "
              "`compact-full-write-cold-duration = 3s` so its shards reach full compaction "
              "within the run; neoedge after POST /api/v1/flush. Both measured (blocks "
              "allocated, as du) once the data dir stopped changing for several seconds; "
              "divided by the field values of the file. Each engine is then restarted on "
              "the same data dir and measured again once settled (the row above the "
              "'before a restart' one): neoedge trims its WAL only at start-up.",
              "- Queries: those of bench/query/bench_query.py, best of %d, epoch=ns; answers "
              "compared with tests/integration/influx_compat/compare.py. q2 quotes the tag "
              "key \"name\" (NAME is an InfluxQL keyword: both engines refuse it bare)."
              % info["runs"],
              "- Idle RSS: VmRSS a few seconds after start, before any write.",
              "- MQTT: mosquitto started on a free port (no queue limit, 1000 in flight); "
              "neoedge subscribes to `sensors/#` (default). Rate = points accepted "
              "(neoedge /metrics) / time from first publish to last point accepted; cores "
              "= CPU seconds / that time. mosquitto_pub -l sends one line per message (it "
              "splits on newlines) in chunks of at most 50,000 messages; the paho client "
              "(python3-paho-mqtt) sends 100 lines per message, QoS 1.",
              ""]
    with open(os.path.join(results, "latest.md"), "w") as f:
        f.write("\n".join(lines))
    print("wrote %s" % os.path.join(results, "latest.md"))
    return not fails
