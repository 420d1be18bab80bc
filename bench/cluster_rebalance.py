#!/usr/bin/env python3
"""cluster_rebalance.py - rebalancing time per GB moved, on loopback.

Starts a 3-node cluster (replication factor 2, durability interval), loads
the first --mb MB of a line-protocol file into node1 over HTTP (batches of
--batch lines) and waits until node1's hint queues are empty (every point
on its owners). Then starts node4 (its seeds are the three others) and
measures, from its start:

  joined s    until node1 sees four alive members
  moved s     until node4 has no shard moving (every shard it gained
              pulled in full from a complete copy)
  settled s   until no node keeps a shard for a new owner (old copies
              dropped)
  pulled MB   bytes node4 pulled from its peers: shard moves
              (rebalance.bytes_moved) plus the anti-entropy rounds that
              start when it comes alive (antientropy.bytes_pulled), as
              versioned records on the wire
  points      points those pulls wrote into node4's store
  s/GB        moved s per GB pulled

moved s includes the fixed wait of a move (replication.max_lag + 2 s
after the ring changed, so that writes placed on the old ring reach the
old owners first) and the one-second tick of the mover.

Usage: bench/cluster_rebalance.py [--bin PATH] [--file LP] [--mb N ...] [--batch N]
The binary should be an optimised build without sanitizers, e.g.
  cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && ninja -C build-rel neoedge
"""
import argparse
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import time

from benchlib import free_port, get, node_config, stop_all, wait, write_all

KEY = "bench-rebalance-key-0123456789"


def config(path, node, data, http_port, clus, seeds):
    node_config(path, node, data, http_port,
                cluster={"listen": clus, "seeds": seeds, "key": KEY,
                         "probe_interval": "250ms", "probe_timeout": "100ms"},
                replication={"factor": 2, "max_lag": "200ms", "anti_entropy_interval": "1h"})


def cluster(port):
    return json.loads(get(port, "/api/v1/cluster", timeout=30)[1])


def queue_records(port):
    total = 0.0
    for line in get(port, "/metrics", timeout=30)[1].splitlines():
        if line.startswith("neoedge_replication_queue_records"):
            total += float(line.split()[-1])
    return total


def bodies(path, mb, batch):
    """Batches of whole lines, mb MB of the file at most."""
    limit = mb << 20
    out, lines, size = [], [], 0
    with open(path, "rb") as f:
        for line in f:
            if size + len(line) > limit:
                break
            size += len(line)
            lines.append(line)
            if len(lines) == batch:
                out.append(b"".join(lines))
                lines = []
    if lines:
        out.append(b"".join(lines))
    return out, size


def load(port, batches):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    write_all(conn, batches, "load")
    conn.close()


def run(binary, tmp, name, path, mb, batch):
    https = [free_port() for _ in range(4)]
    cluss = [free_port() for _ in range(4)]
    seeds = [f"127.0.0.1:{p}" for p in cluss[:3]]
    procs = []

    def start(i):
        d = os.path.join(tmp, f"{name}-n{i + 1}")
        config(d + ".yaml", f"node{i + 1}", d, https[i], cluss[i], seeds)
        log = open(d + ".log", "w")
        procs.append(subprocess.Popen([binary, "run", "--config", d + ".yaml"], stdout=log,
                                      stderr=subprocess.STDOUT))
        wait(lambda: get(https[i], "/health")[0] in (200, 503), 30, "health")

    try:
        for i in range(3):
            start(i)
        wait(lambda: cluster(https[0])["counts"]["alive"] == 3, 30, "three members")
        batches, size = bodies(path, mb, batch)
        load(https[0], batches)
        wait(lambda: queue_records(https[0]) == 0, 600, "replication drained")
        t0 = time.monotonic()
        start(3)
        t_join = wait(lambda: cluster(https[0])["counts"]["alive"] == 4, 60, "node4 alive")

        def moved():
            rb = cluster(https[3])["rebalance"]
            return rb["moves_completed"] > 0 and rb["shards_moving"] == 0

        t_moved = wait(moved, 1800, "moves done")
        t_settled = wait(lambda: all(cluster(p)["rebalance"]["shards_leaving"] == 0 for p in https),
                         1800, "old copies dropped")
        j = cluster(https[3])
        pulled = j["rebalance"]["bytes_moved"] + j["antientropy"]["bytes_pulled"]
        points = j["rebalance"]["points_moved"] + j["antientropy"]["points_repaired"]
        return size, t_join - t0, t_moved - t0, t_settled - t0, pulled, points
    finally:
        stop_all(procs, timeout=60)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build-rel/agent/neoedge")
    ap.add_argument("--file", default="bench/data/s1-q5m.lp")
    ap.add_argument("--mb", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--batch", type=int, default=5000)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="neoedge-bench-rebal-")
    try:
        print(f"3 nodes, factor 2, then node4 joins; data: {os.path.basename(a.file)}")
        print(f"{'loaded MB':>10}{'joined s':>10}{'moved s':>9}{'settled s':>11}"
              f"{'pulled MB':>11}{'points':>11}{'s/GB':>9}")
        for k, mb in enumerate(a.mb):
            size, tj, tm, ts, pulled, points = run(a.bin, tmp, f"r{k}", a.file, mb, a.batch)
            per_gb = tm / (pulled / 2**30) if pulled else float("nan")
            print(f"{size / 2**20:>10.1f}{tj:>10.2f}{tm:>9.2f}{ts:>11.2f}"
                  f"{pulled / 2**20:>11.1f}{points:>11d}{per_gb:>9.0f}", flush=True)
    finally:
        if not os.environ.get("KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
