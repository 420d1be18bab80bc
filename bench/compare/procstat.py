"""Process and directory probes read from /proc and the file system.

CPU time is utime+stime of one process (fields 14 and 15 of /proc/PID/stat,
counted after the closing parenthesis of the command name, which may hold
spaces), in seconds. Memory figures come from /proc/PID/status in bytes.
"""
import os

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime+stime of process pid in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    # rest[0] is field 3 (state); utime is field 14, stime field 15.
    return (int(rest[11]) + int(rest[12])) / _TICK


def threads_cpu_seconds(pid, name):
    """utime+stime summed over the threads of pid whose name is `name`."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                head, rest = f.read().rsplit(")", 1)
        except FileNotFoundError:
            continue
        if head.split("(", 1)[1] == name:
            rest = rest.split()
            total += int(rest[11]) + int(rest[12])
    return total / _TICK


def minor_faults(pid):
    """Minor page faults of process pid so far (field 10 of /proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


def status_bytes(pid, key):
    """A 'kB' line of /proc/PID/status (VmRSS, VmHWM, ...) in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def dir_bytes(path):
    """Bytes allocated on disk under path (what du reports), 0 if absent."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            total += st.st_blocks * 512
    return total


def dir_apparent_bytes(path):
    """Sum of file sizes under path, 0 if absent."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                continue
    return total


def has_suffix(path, suffixes):
    """True when a file under path ends with one of suffixes."""
    for _root, _dirs, files in os.walk(path):
        if any(n.endswith(suffixes) for n in files):
            return True
    return False


def machine():
    """CPU model, logical cores, RAM and kernel of this machine."""
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return {"cpu": model, "cores": os.cpu_count(),
            "ram_gib": mem_kb / 1024 / 1024, "kernel": os.uname().release}
