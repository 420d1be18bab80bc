"""del_check.py - the checker of the cluster DELETE / DROP tests.

The data set is fixed: measurement m, series dev=d00..d19, 30 points each
(one a second from BASE), and measurement gone, series d00..d04, the same
times; every value 1. The old writes, made while a node is down and before
the deletions, put value 3 at m d00..d09 BASE+15s..BASE+17s. The deletions
the test runs are DELETE of m's series d00..d09 from BASE+5s to BASE+19s,
and DROP MEASUREMENT gone. The newer writes, after them, put value 2 at m
d00..d09 BASE+10s..BASE+12s (inside the deleted range) and at gone d00
BASE+3s. A second database, lab (measurement x, d00..d09, 10 points each),
is dropped whole.

  write PORT base|old|newer writes that part over HTTP (exit 1 unless 204)
  statements                prints the DELETE and the DROPs, one a line
  nodes NODE.json...        each node's own store (read offline): no node
                            holds a deleted point; every expected point is
                            on at least RF (2) nodes with its value; nothing
                            else is anywhere
  cluster ANSWER.json...    answers of the same SELECT sent to each node
                            (cluster-wide reads): each holds exactly the
                            expected points
"""
import json
import sys
import urllib.request

BASE = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
SEC = 1_000_000_000
DEL_DEVS = ["d%02d" % i for i in range(10)]
DEL_T0, DEL_T1 = BASE + 5 * SEC, BASE + 19 * SEC
RF = 2


def base_points():
    for d in range(20):
        for i in range(30):
            yield ("m", "d%02d" % d, BASE + i * SEC, 1)
    for d in range(5):
        for i in range(30):
            yield ("gone", "d%02d" % d, BASE + i * SEC, 1)


def old_points():
    for dev in DEL_DEVS:
        for i in (15, 16, 17):
            yield ("m", dev, BASE + i * SEC, 3)


def newer_points():
    for dev in DEL_DEVS:
        for i in (10, 11, 12):
            yield ("m", dev, BASE + i * SEC, 2)
    yield ("gone", "d00", BASE + 3 * SEC, 2)


def deleted(meas, dev, ts):
    return meas == "gone" or (dev in DEL_DEVS and DEL_T0 <= ts <= DEL_T1)


def expected():
    want = {(m, d, t): v for m, d, t, v in base_points() if not deleted(m, d, t)}
    want.update({(m, d, t): v for m, d, t, v in newer_points()})
    return want


def post(port, db, pts):
    body = "".join("%s,dev=%s v=%d %d\n" % (m, d, v, t) for m, d, t, v in pts)
    req = urllib.request.Request(
        "http://127.0.0.1:%s/write?db=%s&precision=ns" % (port, db), data=body.encode(),
        method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status == 204


def write(port, part):
    if part == "newer":
        return post(port, "iot", newer_points())
    if part == "old":
        return post(port, "iot", old_points())
    lab = [("x", "d%02d" % d, BASE + i * SEC, 1) for d in range(10) for i in range(10)]
    return post(port, "iot", base_points()) and post(port, "lab", lab)


def statements():
    iso = lambda ns: "2026-01-01T00:00:%02dZ" % ((ns - BASE) // SEC)
    print("DELETE FROM m WHERE dev =~ /^d0[0-9]$/ AND time >= '%s' AND time <= '%s'"
          % (iso(DEL_T0), iso(DEL_T1)))
    print("DROP MEASUREMENT gone")
    print("DROP DATABASE lab")


def points_of(path):
    got = {}
    for res in json.load(open(path)).get("results", []):
        if "error" in res:
            raise SystemExit("%s: %s" % (path, res["error"]))
        for s in res.get("series", []):
            cols = s["columns"]
            for row in s["values"]:
                got[(s["name"], s["tags"]["dev"], int(row[0]))] = row[cols.index("v")]
    return got


def check_nodes(paths):
    want = expected()
    nodes = [points_of(p) for p in paths]
    problems = []
    for i, got in enumerate(nodes):
        resurrected = [k for k, v in got.items() if deleted(*k) and want.get(k) != v]
        unknown = [k for k in got if k not in want and not deleted(*k)]
        wrong = [k for k, v in got.items() if k in want and want[k] != v]
        if resurrected or unknown or wrong:
            problems.append("node%d: %d deleted points %s, %d unknown %s, %d wrong values %s" % (
                i + 1, len(resurrected), resurrected[:3], len(unknown), unknown[:3], len(wrong),
                wrong[:3]))
    short = [k for k in want if sum(1 for g in nodes if g.get(k) == want[k]) < RF]
    if short:
        problems.append("%d points on fewer than %d nodes: %s" % (len(short), RF, short[:3]))
    newer = sum(1 for _ in newer_points())
    print("expected=%d newer=%d per-node=%s problems=%d %s" % (
        len(want), newer, [len(g) for g in nodes], len(problems), problems[:4]))
    return not problems


def check_cluster(paths):
    want = expected()
    problems = []
    for p in paths:
        got = points_of(p)
        if got != want:
            missing = [k for k in want if got.get(k) != want[k]]
            extra = [k for k in got if k not in want]
            problems.append("%s: %d missing or wrong %s, %d extra %s" % (
                p, len(missing), missing[:3], len(extra), extra[:3]))
    print("expected=%d answers=%d problems=%d %s" % (len(want), len(paths), len(problems),
                                                      problems[:4]))
    return not problems


def main():
    cmd = sys.argv[1]
    if cmd == "write":
        sys.exit(0 if write(sys.argv[2], sys.argv[3]) else 1)
    elif cmd == "statements":
        statements()
    elif cmd == "nodes":
        sys.exit(0 if check_nodes(sys.argv[2:]) else 1)
    elif cmd == "cluster":
        sys.exit(0 if check_cluster(sys.argv[2:]) else 1)


if __name__ == "__main__":
    main()
