"""ae_check.py - the checker of the anti-entropy and last-writer-wins tests.

It writes batches over HTTP and records every acknowledged point (with the
wall-clock interval of its request), and verifies the stores of every node
read one by one (`neoedge query --data-dir`, i.e. each node's local data):

  writer PORT TAG ACKED STOPFILE [SERIES]
      batches of points m,dev=dN v=<value> until STOPFILE exists; each
      acknowledged batch appends "t_send t_ack dev ts value" lines to ACKED.
      Timestamps are unique per TAG, values name the writer.
  conflict PORT TAG ACKED STOPFILE
      like writer, but every writer uses the same (dev, ts) keys, in the
      same order, with values of its own: concurrent conflicting writes.
  verify ACKED... -- NODE.json...
      every node holds exactly the acknowledged keys; all nodes hold the
      same value for each key; where the requests for one key did not
      overlap in time, that value is the one written last (the greatest
      hybrid-logical-clock version); else it is one of the values written.
"""
import json
import os
import sys
import time
import urllib.request

BASE_TS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
SERIES = 50
MARGIN = 0.005  # seconds between two requests for their order to be certain


def post(port, body):
    req = urllib.request.Request(
        "http://127.0.0.1:%s/write?db=iot&precision=ns" % port, data=body.encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status == 204
    except Exception:
        return False


def run_writer(port, tag, acked, stop, keys_of, value_of):
    k = 0
    while not os.path.exists(stop) and k < 200000:
        pts = keys_of(k)
        body = "".join("m,dev=d%03d v=%d %d\n" % (d, value_of(k, i), ts)
                       for i, (d, ts) in enumerate(pts))
        t0 = time.time()
        ok = post(port, body)
        t1 = time.time()
        if ok:
            with open(acked, "a") as f:
                for i, (d, ts) in enumerate(pts):
                    f.write("%.6f %.6f d%03d %d %d\n" % (t0, t1, d, ts, value_of(k, i)))
        k += 1
        time.sleep(0.02)


def verify(acked_files, node_files):
    writes = {}  # (dev, ts) -> [(t_send, t_ack, value)]
    for path in acked_files:
        for line in open(path):
            t0, t1, dev, ts, v = line.split()
            writes.setdefault((dev, int(ts)), []).append((float(t0), float(t1), int(v)))
    nodes = []
    for path in node_files:
        got = {}
        for res in json.load(open(path)).get("results", []):
            for s in res.get("series", []):
                for row in s["values"]:
                    got[(s["tags"]["dev"], int(row[0]))] = int(row[1])
        nodes.append(got)
    problems = []
    for i, got in enumerate(nodes):
        missing = [k for k in writes if k not in got]
        extra = [k for k in got if k not in writes]
        if missing or extra:
            problems.append("node %d: %d missing %s, %d extra %s" % (
                i + 1, len(missing), missing[:3], len(extra), extra[:3]))
    decided = conflicts = 0
    for key, ws in writes.items():
        vals = {n.get(key) for n in nodes}
        if len(vals) != 1:
            problems.append("replicas differ at %s: %s" % (key, sorted(map(str, vals))))
            continue
        v = vals.pop()
        if len(ws) > 1:
            conflicts += 1
        last = max(ws, key=lambda w: w[0])
        if all(w is last or w[1] + MARGIN < last[0] for w in ws):
            decided += 1
            if v != last[2]:
                problems.append("%s holds %s, the last write was %s" % (key, v, last[2]))
        elif v not in {w[2] for w in ws}:
            problems.append("%s holds %s, never written" % (key, v))
    print("keys=%d conflicting=%d order_known=%d problems=%d %s" % (
        len(writes), conflicts, decided, len(problems), problems[:4]))
    return not problems


def main():
    cmd = sys.argv[1]
    if cmd == "writer":
        port, tag, acked, stop = sys.argv[2:6]
        off = int(tag) * 1_000_000_000  # disjoint timestamps per writer
        run_writer(port, tag, acked, stop,
                   lambda k: [(i, BASE_TS + off + k * 1_000_000 + i) for i in range(SERIES)],
                   lambda k, i: int(tag) * 1_000_000 + k * 100 + i)
    elif cmd == "conflict":
        port, tag, acked, stop = sys.argv[2:6]
        run_writer(port, tag, acked, stop,
                   lambda k: [((k + i) % SERIES, BASE_TS + (k % 40) * 1_000_000 + i)
                              for i in range(10)],
                   lambda k, i: int(tag) * 1_000_000 + k * 100 + i)
    elif cmd == "verify":
        sep = sys.argv.index("--")
        sys.exit(0 if verify(sys.argv[2:sep], sys.argv[sep + 1:]) else 1)


if __name__ == "__main__":
    main()
