#!/usr/bin/env python3
"""Runs every statement of a queries file against InfluxDB and neoedge and
compares the JSON answers: same statements, errors, series (name, tags,
columns) and rows; floats equal to 1e-9 relative. Prints one line per
mismatch and a closing "N passed, M failed" line; exits 1 on any failure.

Besides statements, a queries file may hold:
  #!write LINE          LINE (line protocol) is written to both, in order
  STATEMENT  #!chunked N  asked with chunked=true&chunk_size=N: the answers
                        are compared line by line (one JSON response each)

Usage: compare.py --influx URL --neoedge URL --db DB --queries FILE [--epoch ns]
"""
import argparse
import json
import sys
import urllib.parse
import urllib.request


def query(base, db, q, epoch, chunk_size=0):
    params = {"db": db, "q": q}
    if epoch:
        params["epoch"] = epoch
    if chunk_size:
        params["chunked"] = "true"
        params["chunk_size"] = str(chunk_size)
    url = base + "/query?" + urllib.parse.urlencode(params)
    data = None
    if q.lstrip().split(" ", 1)[0].upper() in ("CREATE", "DROP", "DELETE"):
        # statements that change data go by POST (InfluxDB warns on GET)
        url, data = base + "/query", urllib.parse.urlencode(params).encode()
    try:
        with urllib.request.urlopen(url, data=data, timeout=60) as r:
            body = r.read().decode()
            if chunk_size:  # one response per line
                return {"chunks": [json.loads(l) for l in body.splitlines() if l.strip()]}
            return json.loads(body)
    except urllib.error.HTTPError as e:
        body = e.read().decode()
        try:
            return json.loads(body)
        except ValueError:
            return {"error": "HTTP %d: %s" % (e.code, body)}


def close(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if a == b:
            return True
        scale = max(abs(a), abs(b))
        return abs(a - b) <= 1e-9 * scale
    return a == b


def diff(a, b, path="$"):
    """Returns a description of the first difference, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return "%s: keys %s != %s" % (path, sorted(a), sorted(b))
        for k in a:
            d = diff(a[k], b[k], path + "." + k)
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return "%s: %d items != %d items" % (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            d = diff(x, y, "%s[%d]" % (path, i))
            if d:
                return d
        return None
    if not close(a, b):
        return "%s: %r != %r" % (path, a, b)
    return None


def write(base, db, line):
    req = urllib.request.Request(base + "/write?" + urllib.parse.urlencode({"db": db}),
                                 data=line.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status


def normalize_ties(resp):
    """Sorts rows that share a timestamp: InfluxDB's order among points of
    different series at the same time comes from its iterator merge and is
    not specified, so it is not compared."""
    if isinstance(resp, dict) and "chunks" in resp:
        for c in resp["chunks"]:
            normalize_ties(c)
        return resp
    for r in resp.get("results", []) if isinstance(resp, dict) else []:
        for s in r.get("series", []):
            cols, vals = s.get("columns", []), s.get("values", [])
            if not cols or cols[0] != "time" or not vals:
                continue
            out, i = [], 0
            while i < len(vals):
                j = i
                while j < len(vals) and vals[j][0] == vals[i][0]:
                    j += 1
                out.extend(sorted(vals[i:j], key=lambda row: json.dumps(row)))
                i = j
            s["values"] = out
    return resp


def errors_of(resp):
    if "chunks" in resp:
        return [e for c in resp["chunks"] for e in errors_of(c)]
    if "error" in resp:
        return [resp["error"]]
    return [r.get("error") for r in resp.get("results", [])]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--influx", required=True)
    ap.add_argument("--neoedge", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--epoch", default="ns")
    args = ap.parse_args()
    passed = failed = differs = 0
    with open(args.queries) as f:
        lines = [l.rstrip("\n") for l in f]
    for n, line in enumerate(lines, 1):
        if line.startswith("#!write "):
            lp = line[len("#!write "):]
            try:
                codes = [write(base, args.db, lp) for base in (args.influx, args.neoedge)]
            except (OSError, urllib.error.HTTPError) as e:
                codes = [str(e)]
            if codes != [204, 204]:
                failed += 1
                print("FAIL line %d: write %s: %s" % (n, lp, codes))
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        stmt, _, ann = line.partition("  #!")
        epoch = args.epoch
        chunk_size = 0
        if ann.startswith("chunked"):
            chunk_size = int(ann.split()[1])
            ann = ""
        if ann.startswith("differs"):
            differs += 1
            print("differs (line %d): %s -- %s" % (n, stmt, ann))
            continue
        try:
            a = query(args.influx, args.db, stmt, epoch, chunk_size)
            b = query(args.neoedge, args.db, stmt, epoch, chunk_size)
        except OSError as e:
            failed += 1
            print("FAIL line %d: %s\n  no answer: %s" % (n, stmt, e))
            print("%d passed, %d failed" % (passed, failed))
            return 1
        if ann.startswith("error"):
            ea, eb = errors_of(a), errors_of(b)
            if any(ea) and any(eb):
                passed += 1
            else:
                failed += 1
                print("FAIL line %d: expected errors from both\n  %s\n  influxdb: %s\n  neoedge:  %s"
                      % (n, stmt, json.dumps(a)[:300], json.dumps(b)[:300]))
            continue
        d = diff(normalize_ties(a), normalize_ties(b))
        if d is None:
            passed += 1
        else:
            failed += 1
            print("FAIL line %d: %s\n  %s\n  influxdb: %s\n  neoedge:  %s"
                  % (n, stmt, d, json.dumps(a)[:400], json.dumps(b)[:400]))
    print("compat: %d statements compared, %d known differences" % (passed + failed, differs))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
