"""benchlib.py - what the daemon benchmarks share: loopback ports, node
configs, HTTP GETs and writes with backpressure, waiting, stopping.

Scripts in bench/ import it directly; those in a folder below add bench/
to sys.path first.
"""
import http.client
import re
import socket
import subprocess
import sys
import time


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def node_config(path, node, data, http_port, cluster=None, replication=None):
    """Writes a node's config to path: HTTP only (MQTT and CoAP off),
    durability interval, warnings only in the log. cluster: None (a single
    node) or a dict with listen (port), seeds (host:port list), key and any
    more cluster keys; replication: None or a dict of replication keys."""
    text = f"""node_id: {node}
data_dir: {data}
log:
  level: warn
http:
  listen: 127.0.0.1:{http_port}
mqtt:
  enabled: false
coap:
  enabled: false
storage:
  durability: interval
"""
    if cluster:
        c = dict(cluster)
        text += "cluster:\n"
        text += f"  listen: 127.0.0.1:{c.pop('listen')}\n"
        text += f"  seeds: [{', '.join(c.pop('seeds'))}]\n"
        text += "".join(f"  {k}: {v}\n" for k, v in c.items())
    if replication:
        text += "replication:\n" + "".join(f"  {k}: {v}\n" for k, v in replication.items())
    with open(path, "w") as f:
        f.write(text)


def get(port, path, timeout=10):
    """GET path from 127.0.0.1:port; returns (status, body text)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    return r.status, body


def metric(port, name, pat=""):
    """The values of metric name on the node at port whose labels contain
    pat, one per labelled series."""
    _, body = get(port, "/metrics")
    vals = []
    for line in body.splitlines():
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if m and m.group(1) == name and pat in (m.group(2) or ""):
            vals.append(float(m.group(3)))
    return vals


def wait(pred, limit, what):
    """Polls pred every 100 ms (a connection error or a missing field counts
    as not yet) until it is true; returns time.monotonic() then. Exits the
    benchmark naming what after limit seconds."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            if pred():
                return time.monotonic()
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    sys.exit(f"timed out waiting for {what}")


def write_all(conn, bodies, what, pause=0.05):
    """POSTs each line-protocol body to /write?db=bench on the keep-alive
    connection conn, again after pause seconds while the node answers 429
    or 503 (backpressure). Exits the benchmark naming what on any other
    answer than 204. Returns how many bodies were sent again."""
    retries = 0
    for body in bodies:
        while True:
            conn.request("POST", "/write?db=bench&precision=ns", body=body,
                         headers={"Content-Type": "text/plain"})
            r = conn.getresponse()
            r.read()
            if r.status not in (429, 503):
                break
            retries += 1
            time.sleep(pause)
        if r.status != 204:
            sys.exit(f"{what}: write refused with {r.status}")
    return retries


def stop_all(procs, timeout=30):
    """SIGTERM to every process, then waits for each, SIGKILL after
    timeout seconds."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
