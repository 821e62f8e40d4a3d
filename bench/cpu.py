"""CPU time of other processes, from their CPU clocks: the benchmarks' one way to count it."""

import os
import time
from pathlib import Path


def process_cpu_s(pid: int) -> float | None:
    """Another process's CPU time so far (user + system, seconds, ns resolution),
    read from its CPU clock; None if it is not on this machine."""
    try:
        return time.clock_gettime_ns(((~pid) << 3) | 2) / 1e9  # MAKE_PROCESS_CPUCLOCK
    except OSError:
        pass
    try:  # no CPU clock: /proc's ticks (10 ms resolution)
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def is_postgres(pid: int) -> bool:
    """Whether `pid` on this machine is a PostgreSQL process (a backend's pid from a
    server elsewhere may name some other local process)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"postgres")
    except OSError:
        return False
