#!/usr/bin/env python3
"""neoedge beside InfluxDB 1.6 on the same data, in the same run.

For each dataset (S1 then I1) each engine in turn (InfluxDB, then neoedge)
starts fresh on loopback with its own temp data dir, sits idle (idle RSS),
takes the whole file over HTTP line protocol (batches of 5,000 lines, two
connections; wall rate, server CPU, peak RSS, a rate sample every second),
settles (InfluxDB compacts; neoedge flushes and compacts) until its data
dir stops changing, restarts on the same data dir and settles again (bytes
per field value, before and after the restart), answers the dataset's queries
of bench/query/bench_query.py best of N, and stops. The answers of both
engines are compared with tests/integration/influx_compat/compare.py.
Then mosquitto and neoedge run together and S1 is published over MQTT at
QoS 1 (mosquitto_pub -l, one line per message, in chunks of at most 50,000
messages; and a paho client sending 100 lines per message).

Writes bench/results/latest.md and PNG charts. Never asserts on a figure:
exits 1 only when a step failed to run (a process failed to start, a write
was refused, a query failed).

The ingest is done --ingest-rounds times (default 3) per dataset and
engine, each time into a fresh engine, the engines alternating; the
ingest rows (rate, CPU, peak RSS) are the medians, each round's figures
are listed under the table. The first round is the one above, which the
disk, query and chart figures come from.

Usage: run.py --neoedge BIN [--quick] [--keep-data] [--runs 5] [--ingest-rounds 3]
"""
import argparse
import datetime
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "bench", "query"))
import bench_query  # noqa: E402  (QUERIES, dataset(), best_of(), diff)
import engines  # noqa: E402
import procstat  # noqa: E402
import report  # noqa: E402
from load import Loader, batches  # noqa: E402

MIB = 1024 * 1024


def dataset_specs(quick):
    """[(name, db, file name, gen_iot.py arguments)] for this mode."""
    if quick:
        return [("S1", "s1", "s1-q5m.lp",
                 ["--shape", "sensors", "--devices", "1000", "--duration", "5m",
                  "--interval", "1s", "--seed", "1"]),
                ("I1", "i1", "i1-q200x1h.lp",
                 ["--shape", "iot", "--devices", "200", "--duration", "1h",
                  "--interval", "10s", "--seed", "1"])]
    return [("S1", "s1", "s1.lp",
             ["--shape", "sensors", "--devices", "1000", "--duration", "1h",
              "--interval", "1s", "--seed", "1"]),
            ("I1", "i1", "i1.lp",
             ["--shape", "iot", "--devices", "1000", "--duration", "6h",
              "--interval", "10s", "--seed", "1"])]


def http_call(port, method, path, body=None, timeout=600):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request(method, path, body)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def metrics(port):
    """Prometheus text of /metrics as {name{labels}: value}."""
    status, data = http_call(port, "GET", "/metrics", timeout=30)
    out = {}
    if status != 200:
        return out
    for line in data.decode("utf-8", "replace").splitlines():
        if line and not line.startswith("#"):
            key, _, val = line.rpartition(" ")
            try:
                out[key] = float(val)
            except ValueError:
                pass
    return out


def settle(fingerprint, stable_polls, limit_s):
    """Polls fingerprint() each second until it repeats stable_polls times."""
    t0 = time.perf_counter()
    last, same = None, 0
    while time.perf_counter() - t0 < limit_s:
        cur = fingerprint()
        same = same + 1 if cur == last else 0
        last = cur
        if same >= stable_polls:
            return time.perf_counter() - t0, True
        time.sleep(1.0)
    return time.perf_counter() - t0, False


def settle_influx(proc, limit_s):
    def fp():
        if procstat.has_suffix(proc.data_dir, (".tmp",)):
            return None
        return procstat.dir_apparent_bytes(proc.data_dir)
    return settle(fp, 6, limit_s)


def settle_neoedge(proc, limit_s):
    status, body = http_call(proc.port, "POST", "/api/v1/flush")
    if status // 100 != 2:
        raise RuntimeError("neoedge flush: HTTP %d %s" % (status, body[:200]))

    def fp():
        m = metrics(proc.port)
        return (m.get("neoedge_store_segments"), m.get("neoedge_store_compactions_total"),
                m.get("neoedge_store_memtable_bytes"),
                procstat.dir_apparent_bytes(proc.data_dir))
    return settle(fp, 4, limit_s)


def answer_error(answer):
    """The error text of a /query answer, or None."""
    if not isinstance(answer, dict):
        return "not a JSON object"
    if "error" in answer:
        return str(answer["error"])[:200]
    for r in answer.get("results", []):
        if "error" in r:
            return str(r["error"])[:200]
    return None


def log_problems(path, limit=8):
    """Lines of a server log that report errors or warnings."""
    out = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                low = line.lower()
                if ("level=error" in low or "level=warn" in low or "panic" in low
                        or "sanitizer" in low or "fatal" in low):
                    out.append(line.rstrip()[:300])
    except OSError:
        pass
    return out[:limit], len(out)


def start(engine, a, tmp):
    if engine == "influxdb":
        return engines.start_influxd(tmp)
    return engines.start_neoedge(a.neoedge, tmp)


def queries():
    """bench_query.py's queries; the tag key `name` is quoted because NAME
    is an InfluxQL keyword and both engines refuse it bare in GROUP BY."""
    return [(n, db, q.replace("GROUP BY time(1h), name", 'GROUP BY time(1h), "name"'))
            for n, db, q in bench_query.QUERIES]


def footprint(neoedge_bin, tmp_root):
    """Sizes of the stripped neoedge binary (a copy, stripped) and of influxd."""
    out = {}
    stripped = os.path.join(tmp_root, "neoedge.stripped")
    if subprocess.run(["strip", "-o", stripped, neoedge_bin]).returncode == 0:
        out["neoedge_binary"] = os.path.getsize(stripped)
    influxd = shutil.which("influxd")
    if influxd:
        out["influxd_binary"] = os.path.getsize(influxd)
    return out


def ingest(engine, proc, ds, work, label=""):
    """Creates the dataset's database (InfluxDB) and posts the whole file
    into the started engine proc: a dict of wall, samples, values, cpu,
    rate, cpu_per_mvalue, peak_rss and retries. Raises RuntimeError when a
    write was refused."""
    if engine == "influxdb":
        st, body = http_call(proc.port, "POST", "/query?" + urllib.parse.urlencode(
            {"q": "CREATE DATABASE " + ds[1]}))
        if st != 200:
            raise RuntimeError("CREATE DATABASE: HTTP %d %s" % (st, body[:200]))
    cpu0 = procstat.cpu_seconds(proc.pid)
    loader = Loader(proc.port, ds[1], work)
    wall, samples = loader.run()
    cpu1 = procstat.cpu_seconds(proc.pid)
    out = {"peak_rss": procstat.status_bytes(proc.pid, "VmHWM")}
    if loader.errors:
        raise RuntimeError("write refused: " + loader.errors[0])
    out.update(wall=wall, samples=samples, values=loader.done_values, cpu=cpu1 - cpu0,
               rate=loader.done_values / wall, retries=loader.retries,
               cpu_per_mvalue=(cpu1 - cpu0) / (loader.done_values / 1e6))
    print("  %-8s %s%s: %.0f values/s, %.2f CPU s/M values, peak RSS %.0f MiB"
          % (engine, ds[0], label, out["rate"], out["cpu_per_mvalue"], out["peak_rss"] / MIB),
          file=sys.stderr)
    return out


def run_engine(engine, a, tmp_root, ds, work, total_values):
    """Measures one engine on one dataset; returns a dict of figures."""
    name, db = ds[0], ds[1]
    tmp = tempfile.mkdtemp(prefix="%s-%s." % (engine, db), dir=tmp_root)
    res = {"engine": engine, "dataset": name, "tmp": tmp}
    proc = None
    try:
        proc = start(engine, a, tmp)
        time.sleep(a.idle_wait)
        res["idle_rss"] = procstat.status_bytes(proc.pid, "VmRSS")
        res.update(ingest(engine, proc, ds, work))
        settler = settle_influx if engine == "influxdb" else settle_neoedge
        res["settle_s"], res["settled"] = settler(proc, a.settle_limit)
        res["disk_before_restart"] = procstat.dir_bytes(proc.data_dir)
        # A restart lets each engine drop what it only keeps for recovery
        # (neoedge trims its WAL at start-up), then it settles again.
        res["exit_status_first"] = engines.stop(proc)
        proc = start(engine, a, tmp)
        s2, ok2 = settler(proc, a.settle_limit)
        res["settle_s"] += s2
        res["settled"] = res["settled"] and ok2
        res["disk"] = procstat.dir_bytes(proc.data_dir)
        res["bytes_per_value"] = res["disk"] / total_values
        print("  %-8s %s: %.3f bytes/value (%.3f before restart) after %.0f s settling%s"
              % (engine, name, res["bytes_per_value"],
                 res["disk_before_restart"] / total_values, res["settle_s"],
                 "" if res["settled"] else " (still changing)"), file=sys.stderr)
        res["queries"] = {}
        for qname, qdb, q in queries():
            if qdb != db:
                continue
            best, answer = bench_query.best_of(proc.port, db, q, a.runs)
            err = answer_error(answer)
            if err:
                res.setdefault("query_errors", []).append("%s: %s" % (qname, err))
            res["queries"][qname] = (best, answer)
        # What a request costs with nothing to compute, measured right
        # after the queries: no query can answer faster than these.
        res["floors"] = {fname: bench_query.best_of(proc.port, db, fq, a.runs)[0]
                         for fname, _, fq in bench_query.FLOOR}
    except (OSError, RuntimeError, engines.StartError, KeyError, ValueError,
            http.client.HTTPException) as e:
        res["error"] = "%s on %s: %s" % (engine, name, e)
        print("  FAILED: " + res["error"], file=sys.stderr)
    finally:
        status = engines.stop(proc)
        if proc is not None:
            res["exit_status"] = status
            res["log_problems"] = log_problems(proc.log_path)
        if not a.keep_data:
            shutil.rmtree(tmp, ignore_errors=True)
    return res


def ingest_round(engine, a, tmp_root, ds, work):
    """One more ingest of the whole file into a fresh engine: ingest's
    figures, or {"error": text} when a step failed."""
    tmp = tempfile.mkdtemp(prefix="%s-%s-round." % (engine, ds[1]), dir=tmp_root)
    proc = None
    try:
        proc = start(engine, a, tmp)
        time.sleep(a.idle_wait)  # as in run_engine: start-up work done
        return ingest(engine, proc, ds, work, " round")
    except (OSError, RuntimeError, engines.StartError, ValueError,
            http.client.HTTPException) as e:
        return {"error": "%s on %s, extra ingest round: %s" % (engine, ds[0], e)}
    finally:
        engines.stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


INGEST_KEYS = ("rate", "cpu_per_mvalue", "peak_rss")


def ingest_medians(res, more):
    """Keeps each ingest figure of res and of the rounds in more as a list
    (res["rounds"]) and sets res's figure to their median; a failed round
    is left out and its error kept in res["round_errors"]."""
    res["round_errors"] = [m["error"] for m in more if "error" in m]
    if "cpu_per_mvalue" not in res:
        return
    rounds = [{k: res[k] for k in INGEST_KEYS}] + [m for m in more if "error" not in m]
    res["rounds"] = rounds
    for k in INGEST_KEYS:
        res[k] = statistics.median(r[k] for r in rounds)


def split_lines(path, limit, chunk, outdir):
    """Writes at most limit lines of path into files of chunk lines each."""
    files, n, out = [], 0, None
    with open(path, "rb") as f:
        for line in f:
            if n == limit:
                break
            if n % chunk == 0:
                if out:
                    out.close()
                files.append(os.path.join(outdir, "mqtt-%03d.lp" % len(files)))
                out = open(files[-1], "wb")
            out.write(line)
            n += 1
    if out:
        out.close()
    return files, n


def wait_mqtt_points(port, target, stall_s=30.0):
    """Waits until neoedge accepted target MQTT points or stops advancing."""
    key = 'neoedge_points_accepted_total{source="mqtt"}'
    last, last_change = -1, time.perf_counter()
    while True:
        got = metrics(port).get(key, 0)
        now = time.perf_counter()
        if got >= target:
            return got, now
        if got != last:
            last, last_change = got, now
        elif now - last_change > stall_s:
            return got, last_change
        time.sleep(0.05)


def wait_connected(port, limit_s=30):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit_s:
        m = metrics(port)
        if any(k.startswith("neoedge_mqtt_connected") and v == 1 for k, v in m.items()):
            return
        time.sleep(0.1)
    raise RuntimeError("neoedge did not connect to mosquitto")


def pub_mosquitto(port, files):
    for path in files:
        with open(path, "rb") as f:
            r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port),
                                "-t", "sensors/bench", "-q", "1", "-l"], stdin=f,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise RuntimeError("mosquitto_pub: exit %d %s" % (r.returncode, r.stderr[:200]))


def pub_paho(port, files, lines_per_msg):
    """Publishes the files with 100 lines per message from one paho client."""
    import paho.mqtt.client as mqtt
    window = threading.Semaphore(10000)  # QoS 1 messages not yet acknowledged
    cl = mqtt.Client(client_id="neoedge-bench-pub", protocol=mqtt.MQTTv311)
    cl.max_inflight_messages_set(1000)
    cl.max_queued_messages_set(0)
    cl.on_publish = lambda _c, _u, _mid: window.release()
    cl.connect("127.0.0.1", port)
    cl.loop_start()
    infos = []
    try:
        for path in files:
            with open(path, "rb") as f:
                lines = f.readlines()
            for i in range(0, len(lines), lines_per_msg):
                if not window.acquire(timeout=120):
                    raise RuntimeError("paho: no PUBACK for 120 s")
                payload = b"".join(lines[i:i + lines_per_msg])
                infos.append(cl.publish("sensors/bench", payload, qos=1))
        for info in infos:
            info.wait_for_publish(timeout=120)
            if not info.is_published():
                raise RuntimeError("paho: no PUBACK for 120 s")
    finally:
        cl.disconnect()
        cl.loop_stop()


def run_mqtt(a, tmp_root, path, how):
    """Measures MQTT ingest into neoedge through mosquitto; returns figures."""
    tmp = tempfile.mkdtemp(prefix="mqtt-%s." % how, dir=tmp_root)
    res = {"how": how}
    mq = ne = None
    try:
        # One message per line costs the broker and the subscriber per message,
        # so mosquitto_pub gets a smaller share of the file.
        limit = min(a.mqtt_lines, 300000) if how == "mosquitto_pub" else a.mqtt_lines
        files, lines = split_lines(path, limit, 50000, tmp)
        mq = engines.start_mosquitto(tmp)
        ne = engines.start_neoedge(a.neoedge, tmp, mqtt_port=mq.port)
        wait_connected(ne.port)
        c_ne0, c_mq0 = procstat.cpu_seconds(ne.pid), procstat.cpu_seconds(mq.pid)
        t0 = time.perf_counter()
        if how == "mosquitto_pub":
            pub_mosquitto(mq.port, files)
        else:
            pub_paho(mq.port, files, 100)
        got, t1 = wait_mqtt_points(ne.port, lines)
        wall = t1 - t0
        c_ne1, c_mq1 = procstat.cpu_seconds(ne.pid), procstat.cpu_seconds(mq.pid)
        res.update(lines=lines, got=int(got), wall=wall, rate=got / wall,
                   ne_cores=(c_ne1 - c_ne0) / wall, mq_cores=(c_mq1 - c_mq0) / wall,
                   peak_rss=procstat.status_bytes(ne.pid, "VmHWM"))
        print("  mqtt %s: %d/%d points, %.0f points/s, neoedge %.2f cores"
              % (how, got, lines, res["rate"], res["ne_cores"]), file=sys.stderr)
        if got < lines:
            res["error"] = "neoedge accepted %d of %d MQTT points" % (got, lines)
    except (OSError, RuntimeError, engines.StartError, KeyError, ValueError,
            http.client.HTTPException) as e:
        res["error"] = "mqtt %s: %s" % (how, e)
        print("  FAILED: " + res["error"], file=sys.stderr)
    finally:
        engines.stop(ne)
        engines.stop(mq)
        if ne is not None:
            res["log_problems"] = log_problems(ne.log_path)
        if not a.keep_data:
            shutil.rmtree(tmp, ignore_errors=True)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--neoedge", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--keep-data", action="store_true")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ingest-rounds", type=int, default=3,
                    help="ingests of each dataset per engine, alternating; the ingest "
                    "rows are their medians (default 3)")
    ap.add_argument("--data", default=os.path.join(SRC, "bench", "data"))
    ap.add_argument("--results", default=os.path.join(SRC, "bench", "results"))
    a = ap.parse_args()
    a.idle_wait = 3.0 if a.quick else 5.0
    a.settle_limit = 90.0 if a.quick else 600.0
    a.mqtt_lines = 300000 if a.quick else 1000000
    os.makedirs(a.data, exist_ok=True)
    tmp_root = os.path.join(a.results, "tmp")
    os.makedirs(tmp_root, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    load_start = "%.2f" % os.getloadavg()[0]

    runs, sets = [], []
    for spec in dataset_specs(a.quick):
        path = bench_query.dataset(os.path.join(a.data, spec[2]), spec[3])
        print("dataset %s: %s" % (spec[0], path), file=sys.stderr)
        work = batches(path)
        total_values = sum(n for _, n in work)
        total_lines = sum(body.count(b"\n") for body, _ in work)
        sets.append({"name": spec[0], "file": os.path.basename(path), "args": spec[3],
                     "bytes": os.path.getsize(path), "lines": total_lines,
                     "values": total_values})
        pair = [run_engine(engine, a, tmp_root, spec, work, total_values)
                for engine in ("influxdb", "neoedge")]
        # more ingest rounds, each engine fresh, the order alternating so
        # that a drift of the machine's load meets both alike
        more = {"influxdb": [], "neoedge": []}
        for k in range(1, a.ingest_rounds):
            order = ("neoedge", "influxdb") if k % 2 else ("influxdb", "neoedge")
            for engine in order:
                more[engine].append(ingest_round(engine, a, tmp_root, spec, work))
        for res in pair:
            ingest_medians(res, more[res["engine"]])
        runs += pair
        del work
    s1_path = os.path.join(a.data, dataset_specs(a.quick)[0][2])
    mqtt = [run_mqtt(a, tmp_root, s1_path, how) for how in ("mosquitto_pub", "paho")]

    info = {"started": started, "quick": a.quick, "runs": a.runs,
            "ingest_rounds": a.ingest_rounds,
            "footprint": footprint(a.neoedge, tmp_root),
            "machine": procstat.machine(),
            "influx_version": engines.version(["influxd", "version"]),
            "neoedge_version": engines.version([a.neoedge, "version"]),
            "mosquitto_version": engines.version(["mosquitto", "-h"]),
            "load_start": load_start, "load_end": "%.2f" % os.getloadavg()[0]}
    ok = report.write_all(a.results, tmp_root, info, sets, runs, mqtt)
    if not a.keep_data:
        shutil.rmtree(tmp_root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
