"""rb_check.py - the checker of the shard move tests (the writer is
ae_check.py's: every acknowledged point is recorded with the wall-clock
interval of its request).

  counter PORT OUT STOPFILE ACKED...
      until STOPFILE exists: notes the points acknowledged LAG seconds
      before the query starts (replication delivers a point to its owners
      within replication.max_lag while they stay up; to a member that has
      just come back, once the sender's retry backoff, at most 2 s, has
      run out: LAG leaves room for that), per series,
      runs SELECT count(v) FROM m GROUP BY dev on PORT (the whole cluster)
      and appends "acked count nmessages t_end nshort short first_message"
      to OUT: totals, when the answer came, how many series counted
      fewer points than were acknowledged for them and the first of them
      as [series, counted, acknowledged] (a series of a shard read from a
      copy that lacks writes shows there, even while other series count
      more than enough).
  complete OUT [ACKED...]
      every query answered without a warning message and counted, in each
      series, at least the points acknowledged before it; with ACKED, also
      at most the points whose requests were sent before its answer came
      (nothing counted twice, nothing unacknowledged); exit 1 otherwise.
  copies CLUSTER.json ACKED:NODE... -- NODE.json...
      the nodes' own stores (files named after the node ids) hold every
      acknowledged point on exactly the owners of its shard on the ring of
      CLUSTER.json (GET /api/v1/cluster once settled) and on no other node
      but, maybe, the node that accepted it from the client (ACKED:NODE).
"""
import json
import os
import sys
import time
import urllib.parse
import urllib.request

LAG = 3.0


def acked_before(files, t, column=1):
    """Acknowledged points whose request was acknowledged (column 1) or
    sent (column 0) at or before t."""
    n = 0
    for path in files:
        try:
            for line in open(path):
                parts = line.split()
                if len(parts) == 5 and float(parts[column]) <= t:
                    n += 1
        except FileNotFoundError:
            pass
    return n


def acked_by_series(files, t):
    """Points acknowledged at or before t, per series (dev)."""
    n = {}
    for path in files:
        try:
            for line in open(path):
                parts = line.split()
                if len(parts) == 5 and float(parts[1]) <= t:
                    n[parts[2]] = n.get(parts[2], 0) + 1
        except FileNotFoundError:
            pass
    return n


def count(port):
    """Points per series (dev) in the whole cluster, and the messages."""
    q = urllib.parse.urlencode({"db": "iot", "q": "SELECT count(v) FROM m GROUP BY dev"})
    with urllib.request.urlopen("http://127.0.0.1:%s/query?%s" % (port, q), timeout=30) as r:
        j = json.load(r)
    res = j["results"][0]
    msgs = [m.get("text", "") for m in res.get("messages", [])]
    if "error" in res:
        msgs.append("error: " + res["error"])
    return {s["tags"]["dev"]: int(s["values"][0][1]) for s in res.get("series", [])}, msgs


def counter(port, out, stop, acked):
    while not os.path.exists(stop):
        floor = acked_by_series(acked, time.time() - LAG)
        try:
            got, msgs = count(port)
        except Exception as e:  # a failed query is a failure of the test
            got, msgs = {"-": -1}, ["query failed: %s" % e]
        t_end = time.time()
        short = sorted([dev, got.get(dev, 0), n] for dev, n in floor.items()
                       if got.get(dev, 0) < n)
        with open(out, "a") as f:
            f.write("%d %d %d %.6f %d %s %s\n" % (
                sum(floor.values()), sum(got.values()), len(msgs), t_end, len(short),
                json.dumps(short[:12], separators=(",", ":")), json.dumps(msgs[:1])))
        time.sleep(0.2)


def complete(out, acked):
    # floor got messages t_end short [[dev, got, floor], ...] messages
    rows = [l.split(" ", 6) for l in open(out)]
    bad = [r for r in rows if int(r[2]) != 0 or int(r[1]) < int(r[0]) or int(r[4]) != 0]
    over = [r + [acked_before(acked, float(r[3]), 0)] for r in rows] if acked else []
    over = [r for r in over if int(r[1]) > r[-1]]
    print("queries=%d incomplete=%d over=%d %s %s" % (len(rows), len(bad), len(over), bad[:3],
                                                       over[:3]))
    return len(rows) > 0 and not bad and not over


FNV_OFFSET = 0xcbf29ce484222325
FNV_PRIME = 0x100000001b3
M64 = (1 << 64) - 1


def fnv(h, data):
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & M64
    return h


def fmix64(k):
    k ^= k >> 33
    k = (k * 0xff51afd7ed558ccd) & M64
    k ^= k >> 33
    k = (k * 0xc4ceb9fe1a85ec53) & M64
    return k ^ (k >> 33)


def series_hash(meas, tags):
    """ne_ring_series_hash (sharding/ring.c): each string with its length."""
    h = FNV_OFFSET
    for part in [meas] + [x for kv in sorted(tags.items()) for x in kv]:
        b = part.encode()
        h = fnv(fnv(h, len(b).to_bytes(4, "little")), b)
    return fmix64(h)


def copies(ring_path, acked, nodes):
    """Each point is on every owner of its shard (the settled ring) and on
    no other node, but for the node that accepted it from a client: that
    one keeps what it accepts unless it dropped the shard since (reads
    never use a non-owner's copy)."""
    ring = json.load(open(ring_path))["ring"]
    names = [n["id"] for n in ring["nodes"]]
    owners = [{names[i] for i in o} for o in ring["owners"]]
    nshards = ring["shards"]
    want = {}
    for spec in acked:
        path, recv = spec.rsplit(":", 1)
        for line in open(path):
            t0, t1, dev, ts, v = line.split()
            own = owners[series_hash("m", {"dev": dev}) % nshards]
            want[(dev, int(ts))] = (own, recv)
    held = {}
    for path in nodes:
        node = os.path.basename(path)[: -len(".json")]
        for res in json.load(open(path)).get("results", []):
            for s in res.get("series", []):
                for row in s["values"]:
                    held.setdefault((s["tags"]["dev"], int(row[0])), set()).add(node)
    missing = [k for k in want if k not in held]
    extra = [k for k in held if k not in want]
    wrong = [(k, sorted(held[k]), sorted(own), recv) for k, (own, recv) in want.items()
             if k in held and (not own <= held[k] or held[k] - {recv} != own - {recv})]
    print("keys=%d missing=%d extra=%d misplaced=%d replicas=%d %s" % (
        len(want), len(missing), len(extra), len(wrong), ring["replicas"],
        (missing[:2], extra[:2], wrong[:2])))
    return want and not missing and not extra and not wrong


def main():
    cmd = sys.argv[1]
    if cmd == "counter":
        counter(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    elif cmd == "complete":
        sys.exit(0 if complete(sys.argv[2], sys.argv[3:]) else 1)
    elif cmd == "copies":
        sep = sys.argv.index("--")
        sys.exit(0 if copies(sys.argv[2], sys.argv[3:sep], sys.argv[sep + 1:]) else 1)


if __name__ == "__main__":
    main()
