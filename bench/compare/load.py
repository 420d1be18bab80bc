"""HTTP line-protocol ingest driver and throughput sampler.

The input file is cut into batches of 5,000 lines held in memory before the
clock starts, each with its count of field values, so the client reads no
file while measuring. Two threads, each with one keep-alive connection,
take the next batch in order and POST it to /write?db= (a 503, the server
asking to back off, is retried after a pause and counted). A sampler thread
records the cumulative acknowledged field values once a second.
"""
import http.client
import socket
import threading
import time


def field_count(line):
    """Field values in one line-protocol line (no escaped spaces in keys)."""
    parts = line.split(b" ")
    if len(parts) < 2:
        return 0
    return parts[1].count(b",") + 1


def batches(path, size=5000):
    """[(body bytes, field values)] of the file cut into batches of size lines."""
    out, buf, nvals = [], [], 0
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            buf.append(line)
            nvals += field_count(line)
            if len(buf) == size:
                out.append((b"".join(buf), nvals))
                buf, nvals = [], 0
    if buf:
        out.append((b"".join(buf), nvals))
    return out


class Loader:
    """Posts all batches over `conns` connections; counts acknowledged values."""

    def __init__(self, port, db, work, conns=2):
        self.port, self.db, self.work, self.conns = port, db, work, conns
        self.done_values = 0
        self.errors = []
        self.retries = 0  # 503 answers retried
        self._next = 0
        self._lock = threading.Lock()

    def _take(self):
        with self._lock:
            if self._next >= len(self.work) or self.errors:
                return None
            item = self.work[self._next]
            self._next += 1
            return item

    def _post(self, conn, body):
        conn.request("POST", "/write?db=" + self.db, body,
                     {"Content-Type": "text/plain; charset=utf-8"})
        r = conn.getresponse()
        text = r.read()
        return r.status, text

    def _send(self, conn, body):
        """POSTs one batch; retries 503 (backpressure) with a growing pause,
        like InfluxDB clients do, and a dropped connection once."""
        pause, reconnected = 0.005, False
        while True:
            try:
                status, text = self._post(conn, body)
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                if reconnected:
                    return conn, -1, str(e).encode()
                try:
                    conn = self._connect()
                except OSError as e2:
                    return conn, -1, str(e2).encode()
                reconnected = True
                continue
            if status != 503 or pause > 5.0:
                return conn, status, text
            with self._lock:
                self.retries += 1
            time.sleep(pause)
            pause *= 1.5

    def _connect(self):
        """A keep-alive connection with Nagle off: http.client sends the
        headers and the body in two writes, which Nagle's algorithm would
        hold back until the server's delayed ACK."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _worker(self):
        conn = self._connect()
        while True:
            item = self._take()
            if item is None:
                break
            body, nvals = item
            conn, status, text = self._send(conn, body)
            if status != 204:
                with self._lock:
                    self.errors.append("HTTP %d: %s" % (status, text[:300].decode("utf-8", "replace")))
                break
            with self._lock:
                self.done_values += nvals
        conn.close()

    def run(self, sample_every=1.0):
        """Loads everything; returns (wall seconds, [(t, cumulative values)])."""
        samples = [(0.0, 0)]
        stop = threading.Event()
        t0 = time.perf_counter()

        def sampler():
            k = 1
            while not stop.wait(max(0.0, t0 + k * sample_every - time.perf_counter())):
                samples.append((time.perf_counter() - t0, self.done_values))
                k += 1

        s = threading.Thread(target=sampler)
        s.start()
        ws = [threading.Thread(target=self._worker) for _ in range(self.conns)]
        for w in ws:
            w.start()
        for w in ws:
            w.join()
        wall = time.perf_counter() - t0
        stop.set()
        s.join()
        samples.append((wall, self.done_values))
        return wall, samples
