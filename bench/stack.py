"""A portal stack of a benchmark's own on loopback: a PostgreSQL database, a Redis queue, gunicorn, workers.

What a benchmark that talks to the portal over HTTP needs around it, kept out of the benchmarks:
- `postgres_database()`: a throwaway database on the running server (127.0.0.1:5432), dropped after;
- `redis_queue_cleanup()`: forgets a Celery queue's keys in Redis afterwards;
- `portal_processes()`: gunicorn with `make run`'s configuration (runlocal's `_gunicorn_argv`) and
  Celery workers on the benchmark's own queue, stopped with their process groups on the way out;
- `rss_mb()`, `cpu_seconds()`, `machine_cpu_seconds()`: memory and CPU of a process tree, and the machine's CPU.

The caller sets DATABASE_URL, CELERY_BROKER_URL, CELERY_TASK_DEFAULT_QUEUE and PORTAL_VAR_DIR in
os.environ before `django.setup()`; the processes started here inherit them.
"""

import contextlib
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"


@contextlib.contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """Creates `<prefix>_<random>` and yields its URL; drops it afterwards, whatever happened."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        from django.db import connections

        connections.close_all()  # our own connections first; WITH (FORCE) ends anyone else's
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_queue_cleanup(queue: str) -> None:
    """Deletes the queue's list and every kombu key named after it (bindings, priority lists), so a
    benchmark leaves nothing in Redis. The queue's name is the benchmark's own, with a random part."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    with contextlib.suppress(redis.RedisError):
        keys = [queue, *client.scan_iter(match=f"*{queue}*")]
        client.delete(*keys)
    client.close()


def _process_tree(root: int) -> list[int]:
    from tests.test_make_run import _process_tree as tree

    return tree(root)


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def rss_mb(root: int) -> list[float]:
    """VmRSS in MB of each process in the tree under `root` (the root included), largest first."""
    return sorted((rss_kb(pid) / 1024 for pid in _process_tree(root)), reverse=True)


def cpu_seconds(root: int) -> float:
    """User + system CPU seconds of the processes now in the tree under `root` (exited ones are gone)."""
    ticks = 0
    for pid in _process_tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat
        except (OSError, ValueError, IndexError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values[:8]) - idle) / tick, sum(values[:8]) / tick


@contextlib.contextmanager
def portal_processes(*, port: int, queue: str, workers: int, log: Path) -> Iterator[dict[str, int]]:
    """gunicorn as `make run` starts it on 127.0.0.1:port and `workers` Celery workers (one process
    each) on `queue`; yields the process-group leaders by role ("web", "worker-1", ...)."""
    from mlopsportal.demo.management.commands.runlocal import Command as RunLocal
    from mlopsportal.demo.management.commands.runlocal import Supervisor
    from tests.conftest import wait_for_http

    out = log.open("a")
    supervisor = Supervisor(write=lambda line: (out.write(line + "\n"), out.flush()))
    try:
        supervisor.start("web", RunLocal._gunicorn_argv(Path(sys.executable).parent, f"127.0.0.1:{port}"))
        celery = [sys.executable, "-m", "celery", "-A", "mlopsportal", "worker", "--loglevel", "INFO"]
        for n in range(1, workers + 1):
            hostname = f"{queue}-{n}@%h"
            supervisor.start(f"worker-{n}", [*celery, "--concurrency", "1", "--hostname", hostname])
        wait_for_http(f"http://127.0.0.1:{port}/login/", seconds=90, process=supervisor.processes["web"])
        yield {name: process.pid for name, process in supervisor.processes.items()}
    finally:
        supervisor.stop_all()
        out.close()
