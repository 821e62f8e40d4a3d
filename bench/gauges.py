"""What bench/load.py reads about the processes it measures: CPU and memory from
/proc (psutil), and the database's own view (its backends, the NOTIFY queue)."""

import psutil


def cpu_seconds(pids: list[int]) -> float:
    return sum(cpu_split(pids))


def cpu_split(pids: list[int]) -> tuple[float, float]:
    """CPU seconds of the processes so far: (user, system)."""
    user = system = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            user, system = user + t.user, system + t.system
        except psutil.NoSuchProcess:
            pass
    return user, system


def wakes(pids: list[int]) -> int:
    """Times the processes have gone to sleep waiting and been woken, so far
    (voluntary context switches): on these VMs each costs a process ~30-50 µs."""
    return _total(pids, lambda p: p.num_ctx_switches().voluntary)


def rss(pids: list[int]) -> int:
    return _total(pids, lambda p: p.memory_info().rss)


def _total(pids: list[int], read) -> int:
    """The sum of `read(psutil.Process)` over the processes still alive."""
    total = 0
    for pid in pids:
        try:
            total += read(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    return total


def database_backends(database_url: str) -> list[int]:
    """The PostgreSQL backends serving the benchmark's database (its own
    scratch database, so no other client's work is counted)."""
    import psycopg

    try:
        with psycopg.connect(database_url) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        return [row[0] for row in rows]
    except psycopg.Error:
        return []


def notification_queue_usage(database_url: str) -> float | None:
    import psycopg

    try:
        with psycopg.connect(database_url) as conn:
            return conn.execute("SELECT pg_notification_queue_usage()").fetchone()[0]
    except psycopg.Error:
        return None
