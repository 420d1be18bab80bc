#!/usr/bin/env python3
"""cluster_replicate.py - write replication cost on loopback.

Starts a single neoedge node, then 3-node clusters at replication factor
1, 2 and 3 (fresh data dirs, durability interval), and for each writes the
same points to node1 over HTTP (line protocol, batches of --batch lines,
one keep-alive connection). Prints per setup:

  ingest pts/s   points acknowledged by node1 per second of wall time (a
                 batch refused with 503, backpressure, is sent again)
  drained s      from the first write until node1's hint queues are empty
                 (every forwarded point acknowledged by its owner)
  tail ms        from the last acknowledged write until then
  fwd pts        points node1 forwarded (neoedge_replication_sent_points_total)
  lag p50/p99 ms neoedge_replication_lag_seconds (the oldest record a peer has
                 not acknowledged; refreshed by the senders about once a
                 second), sampled every 100 ms on node1 while writing and
                 draining, max over peers

Usage: bench/cluster_replicate.py [--bin PATH] [--points N] [--batch N]
The binary should be an optimised build without sanitizers, e.g.
  cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release && ninja -C build/release neoedge
"""
import argparse
import http.client
import os
import shutil
import subprocess
import tempfile
import threading
import time

from benchlib import free_port, get, metric, node_config, stop_all, wait, write_all

KEY = "bench-replicate-key-0123456789"


def config(path, node, data, http, clus, seeds, rf):
    if not clus:
        node_config(path, node, data, http)
        return
    node_config(path, node, data, http,
                cluster={"listen": clus, "seeds": seeds, "key": KEY,
                         "probe_interval": "250ms", "probe_timeout": "100ms"},
                replication={"factor": rf, "max_lag": "200ms"})


def batches(n_points, batch):
    base = 1_700_000_000_000_000_000
    out = []
    for b in range(0, n_points, batch):
        lines = [f"bench,dev=d{(b + i) % 1000:04d},site=s{(b + i) % 7} v={b + i}i,t=21.5 {base + b + i}"
                 for i in range(min(batch, n_points - b))]
        out.append(("\n".join(lines) + "\n").encode())
    return out


def run_setup(binary, tmp, name, nodes, rf, bodies, n_points):
    https = [free_port() for _ in range(nodes)]
    cluss = [free_port() for _ in range(nodes)] if nodes > 1 else [None]
    seeds = [f"127.0.0.1:{p}" for p in cluss if p]
    procs = []
    try:
        for i in range(nodes):
            d = os.path.join(tmp, f"{name}-n{i + 1}")
            cfg = d + ".yaml"
            config(cfg, f"node{i + 1}", d, https[i], cluss[i], seeds, rf)
            log = open(d + ".log", "w")
            procs.append(subprocess.Popen([binary, "run", "--config", cfg], stdout=log,
                                          stderr=subprocess.STDOUT))
        for p in https:
            wait(lambda p=p: get(p, "/health")[0] in (200, 503), 20, "health")
        if nodes > 1:
            wait(lambda: '"alive":%d' % nodes in get(https[0], "/api/v1/cluster")[1].replace(" ", ""),
                 20, "members alive")
        lags, done = [], threading.Event()

        def sample():
            while not done.is_set():
                try:
                    v = metric(https[0], "neoedge_replication_lag_seconds")
                    lags.append(max(v) if v else 0.0)
                except OSError:
                    pass
                time.sleep(0.1)

        sampler = threading.Thread(target=sample)
        if nodes > 1:
            sampler.start()
        conn = http.client.HTTPConnection("127.0.0.1", https[0], timeout=60)
        t0 = time.monotonic()
        write_all(conn, bodies, name, pause=0.02)
        t_ack = time.monotonic() - t0
        conn.close()
        fwd = 0
        if nodes > 1:
            wait(lambda: sum(metric(https[0], "neoedge_replication_queue_records")) == 0,
                 300, "queues drained")
            t_drain = time.monotonic() - t0
            done.set()
            sampler.join()
            fwd = int(sum(metric(https[0], "neoedge_replication_sent_points_total")))
        else:
            t_drain = t_ack
        lags.sort()
        p50 = lags[len(lags) // 2] if lags else 0.0
        p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))] if lags else 0.0
        return n_points / t_ack, t_drain, (t_drain - t_ack) * 1e3, fwd, p50 * 1e3, p99 * 1e3
    finally:
        stop_all(procs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/release/agent/neoedge")
    ap.add_argument("--points", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=5000)
    a = ap.parse_args()
    bodies = batches(a.points, a.batch)
    tmp = tempfile.mkdtemp(prefix="neoedge-bench-repl-")
    try:
        print(f"{a.points} points, batches of {a.batch}, durability interval, max_lag 200ms")
        print(f"{'setup':<16}{'ingest pts/s':>14}{'drained s':>11}{'tail ms':>9}{'fwd pts':>10}"
              f"{'lag p50 ms':>12}{'lag p99 ms':>12}")
        for name, nodes, rf in (("single node", 1, 1), ("3 nodes RF 1", 3, 1),
                                ("3 nodes RF 2", 3, 2), ("3 nodes RF 3", 3, 3)):
            tag = name.replace(" ", "_")
            rate, drained, tail, fwd, p50, p99 = run_setup(a.bin, tmp, tag, nodes, rf, bodies,
                                                           a.points)
            print(f"{name:<16}{rate:>14,.0f}{drained:>11.2f}{tail:>9.0f}{fwd:>10}{p50:>12.1f}"
                  f"{p99:>12.1f}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
