"""Start and stop the processes the comparison measures, all on loopback.

Each start gets free ports and its own data directory under the run's
temp dir; the caller stops what it started with stop(). influxd is told to
snapshot its cache and fully compact shards a few seconds after writes go
cold, so its on-disk size settles within the run (the sizes it reaches
are the same ones it would reach hours later with the stock settings).
Its WAL is fsynced at most every 100 ms, as neoedge's interval durability
does, so neither engine pays an fsync per write the other does not.
"""
import http.client
import os
import socket
import subprocess
import time


class StartError(RuntimeError):
    pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Proc:
    """A started server: its Popen, HTTP/MQTT port, data dir and log path."""

    def __init__(self, name, popen, port, data_dir, log_path):
        self.name, self.popen, self.port = name, popen, port
        self.data_dir, self.log_path = data_dir, log_path

    @property
    def pid(self):
        return self.popen.pid


def _wait_http(proc, path, ok):
    for _ in range(600):
        if proc.popen.poll() is not None:
            raise StartError("%s exited early (status %s), see %s"
                             % (proc.name, proc.popen.returncode, proc.log_path))
        try:
            c = http.client.HTTPConnection("127.0.0.1", proc.port, timeout=1)
            c.request("GET", path)
            if c.getresponse().status in ok:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise StartError("%s did not answer %s" % (proc.name, path))


def _wait_tcp(proc):
    for _ in range(300):
        if proc.popen.poll() is not None:
            raise StartError("%s exited early, see %s" % (proc.name, proc.log_path))
        try:
            socket.create_connection(("127.0.0.1", proc.port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise StartError("%s did not listen on %d" % (proc.name, proc.port))


def _spawn(name, argv, log_path, env=None):
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL)
    finally:
        log.close()


def start_influxd(tmp):
    """influxd with HTTP and RPC on free loopback ports, data under tmp
    (started again on the same tmp, it reopens the same data)."""
    port, rpc = free_port(), free_port()
    data = os.path.join(tmp, "influxdb")
    os.makedirs(data, exist_ok=True)
    conf = os.path.join(tmp, "influxdb.conf")
    with open(conf, "w") as f:
        f.write('reporting-disabled = true\n'
                'bind-address = "127.0.0.1:%d"\n'
                '[meta]\n  dir = "%s/meta"\n'
                '[data]\n  dir = "%s/data"\n  wal-dir = "%s/wal"\n'
                '  query-log-enabled = false\n  wal-fsync-delay = "100ms"\n'
                '  cache-snapshot-write-cold-duration = "2s"\n'
                '  compact-full-write-cold-duration = "3s"\n'
                '[http]\n  bind-address = "127.0.0.1:%d"\n  log-enabled = false\n'
                '[monitor]\n  store-enabled = false\n'
                '[continuous_queries]\n  enabled = false\n'
                '[subscriber]\n  enabled = false\n' % (rpc, data, data, data, port))
    log = os.path.join(tmp, "influxdb.log")
    p = Proc("influxdb", _spawn("influxd", ["influxd", "-config", conf], log), port, data, log)
    _wait_http(p, "/ping", (204,))
    return p


def start_neoedge(binary, tmp, mqtt_port=None):
    """neoedge run with HTTP on a free loopback port; MQTT only if mqtt_port."""
    port = free_port()
    data = os.path.join(tmp, "neoedge")
    env = dict(os.environ,
               NEOEDGE_HTTP_LISTEN="127.0.0.1:%d" % port,
               NEOEDGE_COAP_ENABLED="false",
               NEOEDGE_STORAGE_DURABILITY="interval",
               NEOEDGE_LOG_LEVEL="warn")
    if mqtt_port:
        env["NEOEDGE_MQTT_BROKERS"] = "tcp://127.0.0.1:%d" % mqtt_port
    else:
        env["NEOEDGE_MQTT_ENABLED"] = "false"
    log = os.path.join(tmp, "neoedge.log")
    argv = [binary, "run", "--data-dir", data]
    p = Proc("neoedge", _spawn("neoedge", argv, log, env), port, data, log)
    _wait_http(p, "/ping", (204,))
    return p


def start_mosquitto(tmp):
    """mosquitto on a free loopback port, queueing QoS 1 without a limit."""
    port = free_port()
    conf = os.path.join(tmp, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                "max_queued_messages 0\nmax_inflight_messages 1000\n" % port)
    log = os.path.join(tmp, "mosquitto.log")
    p = Proc("mosquitto", _spawn("mosquitto", ["mosquitto", "-c", conf], log), port, None, log)
    _wait_tcp(p)
    return p


def stop(proc):
    """SIGTERM, then SIGKILL after 30 s; returns the exit status."""
    if proc is None or proc.popen.poll() is not None:
        return None if proc is None else proc.popen.returncode
    proc.popen.terminate()
    try:
        return proc.popen.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.popen.kill()
        return proc.popen.wait()


def version(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"
