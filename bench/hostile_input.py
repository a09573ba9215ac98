"""Hostile input against the running portal over HTTP, with the memory of the web and worker processes.

Starts its own stack on free loopback ports in a temporary PORTAL_VAR_DIR with the embedded defaults
(SQLite, the SQLite Celery broker): migrate and collectstatic, an admin with an API token, a project
and a monitor with a reference and an ingest token, then gunicorn with `make run`'s configuration and
one Celery worker (runlocal's own helpers). Sends a corpus to `/api/v1/monitors/{id}/batches/` and
`/api/v1/monitors/{id}/reference/`: legal batches near every cap (rows, columns, decompressed
Parquet, a 50 MB CSV, JSON and a multipart upload), hostile bodies (bombs, deep JSON, bad encodings,
NUL bytes, odd multipart, lying Content-Length, duplicate headers, wrong types, ...), eight 50 MB
uploads at once, and the drift job the worker runs on what was accepted.

VmRSS of every gunicorn and Celery process (and their children) is sampled every 100 ms. Per
category it prints the requests, the statuses seen, every 5xx, every API error that is not JSON,
hostile input that was stored, the peak RSS of one web and one worker process against the 512 MB
budget, and the idle RSS after warm-up as the floor.

    .venv/bin/python bench/hostile_input.py            # about 3 minutes (149 s on the 2-core machine)
    .venv/bin/python bench/hostile_input.py --serve    # the stack only: prints URL and keys, Ctrl-C stops
"""

import argparse
import contextlib
import functools
import gzip
import io
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--serve", action="store_true", help="Start the stack, print its URL and keys, wait for Ctrl-C.")
parser.add_argument("--only", default="", help="Comma-separated categories to run (default: all).")
ARGS = parser.parse_args()

VAR_DIR = Path(tempfile.mkdtemp(prefix="portal-bench-hostile-"))
QUEUE = f"bench-hostile-{uuid.uuid4().hex[:8]}"
for name in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_STATIC_ROOT", "PORTAL_MEDIA_ROOT"):
    os.environ.pop(name, None)
for name in [name for name in os.environ if name.startswith(("MLFLOW_", "PORTAL_MONITORING_STORAGE"))]:
    os.environ.pop(name)
os.environ |= {
    "PORTAL_VAR_DIR": str(VAR_DIR),
    "DJANGO_SETTINGS_MODULE": "mlopsportal.settings",
    "CELERY_TASK_DEFAULT_QUEUE": QUEUE,  # a `make run` worker on another broker file never matters, but be sure
    "PYTHONUNBUFFERED": "1",
}
# Nothing here talks to MLflow; a closed port makes sure nothing reaches someone's local server.
with socket.socket() as _sock:
    _sock.bind(("127.0.0.1", 0))
    os.environ["MLFLOW_TRACKING_URI"] = f"http://127.0.0.1:{_sock.getsockname()[1]}"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from bench.stack import rss_kb  # noqa: E402
from mlopsportal.demo.management.commands.runlocal import Command as RunLocal  # noqa: E402
from mlopsportal.demo.management.commands.runlocal import Supervisor  # noqa: E402
from tests.conftest import free_port, wait_for_http  # noqa: E402
from tests.test_make_run import _process_tree  # noqa: E402

BUDGET_MB = 512
DETAILED = ("legal, near the caps", "reference uploads")  # categories printed case by case
MAX_BYTES = settings.MONITORING_MAX_BATCH_BYTES
MAX_ROWS = settings.MONITORING_MAX_ROWS
MAX_COLUMNS = settings.MONITORING_MAX_COLUMNS
MAX_DECOMPRESSED = settings.MONITORING_MAX_DECOMPRESSED_BYTES
PARQUET = "application/vnd.apache.parquet"
SCHEMA = [
    {"name": "feature_a", "type": "float", "required": True},
    {"name": "feature_b", "type": "float", "required": True},
    {"name": "segment", "type": "string", "required": True},
]


# ---------------------------------------------------------------- memory


@dataclass
class Peak:
    one: int = 0  # the largest single process, kB
    total: int = 0  # all processes of the role together, kB


class RssSampler(threading.Thread):
    """VmRSS of each role's process tree every 100 ms, the peaks kept per category."""

    def __init__(self, roots: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.roots = roots
        self.category = "startup"
        self.case = ""
        self.peaks: dict[str, dict[str, Peak]] = {}  # by category, and by "category: case"
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.1):
            keys = [self.category, f"{self.category}: {self.case}"]
            for role, root in self.roots.items():
                sizes = [rss_kb(pid) for pid in _process_tree(root)]
                for key in keys:
                    peak = self.peaks.setdefault(key, {}).setdefault(role, Peak())
                    peak.one, peak.total = max(peak.one, max(sizes, default=0)), max(peak.total, sum(sizes))

    def peak(self, category: str, role: str) -> Peak:
        return self.peaks.get(category, {}).get(role, Peak())


# ---------------------------------------------------------------- the stack


@dataclass
class Stack:
    base: str
    monitor_id: int
    ingest_key: str
    api_key: str
    supervisor: Supervisor
    roots: dict[str, int] = field(default_factory=dict)


def _setup_data() -> tuple[int, str, str]:
    from django.contrib.auth import get_user_model

    from monitoring.services import ingest_tokens, monitors, references
    from registry.models import Project
    from registry.services import api_token_rotate

    admin = get_user_model().objects.create_superuser("bench-admin", "admin@example.com", uuid.uuid4().hex)
    project = Project.objects.create(name="Hostile bench", slug="hostile-bench", team="bench")
    monitor = monitors.monitor_create(
        actor=None, project=project, name="hostile", model_name="bench-model", expected_schema=SCHEMA
    )
    references.reference_upload(
        actor=None, monitor_id=monitor.pk, body=to_parquet(frame_of(5000, seed=1)), fmt="parquet"
    )
    return monitor.pk, ingest_tokens.ingest_token_create(actor=None, monitor=monitor).key, api_token_rotate(user=admin)


@contextlib.contextmanager
def portal_stack(log: Path) -> Iterator[Stack]:
    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    monitor_id, ingest_key, api_key = _setup_data()
    port = free_port()
    env = {"MLFLOW_TRACKING_URI": os.environ["MLFLOW_TRACKING_URI"]}
    out = log.open("a")
    supervisor = Supervisor(write=lambda line: (out.write(line + "\n"), out.flush()))
    try:
        supervisor.start("web", RunLocal._gunicorn_argv(Path(sys.executable).parent, f"127.0.0.1:{port}"), env)
        celery = [sys.executable, "-m", "celery", "-A", "mlopsportal", "worker", "--loglevel", "INFO"]
        supervisor.start("worker", [*celery, "--concurrency", "1", "--hostname", f"{QUEUE}@%h"], env)
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/login/", seconds=60, process=supervisor.processes["web"])
        roots = {role: supervisor.processes[role].pid for role in ("web", "worker")}
        yield Stack(base, monitor_id, ingest_key, api_key, supervisor, roots)
    finally:
        supervisor.stop_all()
        out.close()


# ---------------------------------------------------------------- bodies


def frame_of(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "feature_a": rng.normal(0, 1, rows).astype(np.float32),
            "feature_b": rng.normal(5, 2, rows).astype(np.float32),
            "segment": rng.choice(np.array(["north", "south", "east", "west"], dtype=object), rows),
        }
    )


def to_parquet(frame: pd.DataFrame | pa.Table, **options: object) -> bytes:
    buffer = io.BytesIO()
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, buffer, **options)
    return buffer.getvalue()


@functools.cache
def csv_near_limit() -> bytes:
    """As many rows of the monitor's columns as fit under both the byte and the row limit."""
    frame = frame_of(min(MAX_ROWS - 1, 2_400_000), seed=2)
    body = frame.to_csv(index=False, float_format="%.6f").encode()
    if len(body) >= MAX_BYTES:
        cut = body.rfind(b"\n", 0, MAX_BYTES - 1) + 1
        body = body[:cut]
    return body


def json_near_limit() -> bytes:
    """JSON records of the monitor's columns up to the byte limit."""
    row = len(b'{"feature_a":-0.12345,"feature_b":4.12345,"segment":"north"},')
    rows = min(MAX_ROWS - 1, (MAX_BYTES - 1024) // row)
    frame = frame_of(rows, seed=3).round(5)
    body = frame.to_json(orient="records").encode()
    while len(body) > MAX_BYTES:
        rows = int(rows * 0.97)
        body = frame.head(rows).to_json(orient="records").encode()
    return body


def json_rows_over_cap() -> bytes:
    """Under the byte limit, over the row cap: five million tiny records."""
    return b"[" + b",".join([b'{"a":1}'] * min(5_000_000, MAX_BYTES // 9)) + b"]"


def parquet_rows_at_cap() -> bytes:
    return to_parquet(frame_of(MAX_ROWS - 1, seed=4))


def parquet_decompressed_near_cap() -> bytes:
    """Zeros compress to nothing: float64 columns up to ~90 % of the decompressed cap (text counted too)."""
    rows = MAX_ROWS - 1
    columns = max(1, int(MAX_DECOMPRESSED * 0.9) // (rows * 8) - 1)
    base = frame_of(rows, seed=5)
    data = {name: pa.array(base[name]) for name in base}
    for i in range(columns - 1):
        data[f"zero_{i}"] = pa.array(np.zeros(rows))
    return to_parquet(pa.table(data), compression="zstd")


def parquet_columns_near_cap() -> bytes:
    width = MAX_COLUMNS - 1
    rows = max(30, int(MAX_DECOMPRESSED * 0.85) // (width * 8))
    zeros = pa.array(np.zeros(rows))
    base = frame_of(rows, seed=6)
    data = {name: pa.array(base[name]) for name in base} | {f"c{i}": zeros for i in range(width - 3)}
    return to_parquet(pa.table(data), compression="zstd")


def csv_columns_near_cap() -> bytes:
    width = MAX_COLUMNS - 1
    header = ",".join(["feature_a", "feature_b", "segment", *(f"c{i}" for i in range(width - 3))]) + "\n"
    row = "0.5,1.5,north," + ",".join(["0.123456"] * (width - 3)) + "\n"
    rows = (MAX_BYTES - len(header) - 1) // len(row)
    return (header + row * rows).encode()


def parquet_dictionary_bomb() -> bytes:
    """One 1 MB string, dictionary-encoded for 2,000 rows: a 2 GB column in a file of kilobytes."""
    value = "x" * 1_000_000
    array = pa.DictionaryArray.from_arrays(pa.array(np.zeros(2000, dtype=np.int32)), pa.array([value]))
    # Without the Arrow schema, as other writers make it: the reader then expands the dictionary.
    return to_parquet(pa.table({"segment": array}), compression="zstd", store_schema=False)


def parquet_list_bomb() -> bytes:
    """One row holding a list of 30 million doubles: the row count says 1."""
    values = pa.array(np.zeros(30_000_000))
    return to_parquet(pa.table({"feature_a": pa.ListArray.from_arrays([0, len(values)], values)}), compression="zstd")


def parquet_many_row_groups() -> bytes:
    table = pa.table({"feature_a": np.zeros(50_000, dtype=np.float32)})
    return to_parquet(table, row_group_size=1, compression="none")


def gzip_bomb() -> bytes:
    return gzip.compress(b"feature_a\n" + b"1.0\n" * 25_000_000, compresslevel=9)


def multipart(parts: list[tuple[str, str, str, bytes]], boundary: str = "BenchBoundary") -> tuple[bytes, str]:
    chunks = []
    for name, filename, content_type, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        head += f"Content-Type: {content_type}\r\n" if content_type else ""
        chunks.append(head.encode() + b"\r\n" + data + b"\r\n")
    return b"".join(chunks) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


SMALL_CSV = frame_of(20, seed=7).to_csv(index=False).encode()
SMALL_JSON = frame_of(20, seed=7).to_json(orient="records").encode()


# ---------------------------------------------------------------- sending


@dataclass
class Case:
    name: str
    body: bytes | Callable[[], bytes] = b""
    content_type: str = "text/csv"
    expect: str = "4xx"  # "2xx", "4xx" or "any" (not a 5xx)
    headers: dict[str, str] = field(default_factory=dict)
    raw: Callable[[Stack], bytes] | None = None  # a whole HTTP request, for what clients refuse to send
    endpoint: str = "batches"  # or "reference", or a path under /api/v1/
    method: str = "POST"


@dataclass
class Outcome:
    case: Case
    status: int  # 0: no answer (connection reset, timeout)
    seconds: float
    json_error: bool  # an error answer with the API's JSON error shape
    stored: bool  # a batch was stored for input that should have been refused
    note: str = ""


def _batches_count() -> int:
    from monitoring.models import InferenceBatch

    return InferenceBatch.objects.count()


def _raw_request(stack: Stack, head: bytes, body: bytes = b"", timeout: float = 30) -> tuple[int, bytes]:
    host, port = stack.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # a server may answer and close before it has read it all
            sock.sendall(head + body)
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
    try:
        status = int(answer.split(b" ", 2)[1])
    except (IndexError, ValueError):
        status = 0
    head, _, body = answer.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        chunks = []
        while body:
            size, _, rest = body.partition(b"\r\n")
            length = int(size.split(b";")[0] or b"0", 16)
            if not length:
                break
            chunks.append(rest[:length])
            body = rest[length + 2 :]
        body = b"".join(chunks)
    return status, body


def _url(stack: Stack, case: Case) -> str:
    if case.endpoint == "batches":
        return f"{stack.base}/api/v1/monitors/{stack.monitor_id}/batches/"
    if case.endpoint == "reference":
        return f"{stack.base}/api/v1/monitors/{stack.monitor_id}/reference/"
    return f"{stack.base}/api/v1/{case.endpoint.format(monitor=stack.monitor_id)}"


def _auth(stack: Stack, case: Case) -> dict[str, str]:
    if case.endpoint == "batches":
        return {"Authorization": f"Bearer {stack.ingest_key}"}
    return {"Authorization": f"Token {stack.api_key}"}


def send(stack: Stack, case: Case) -> Outcome:
    before = _batches_count()
    started = time.perf_counter()
    note = ""
    if case.raw is not None:
        status, content = _raw_request(stack, case.raw(stack))
        content_type = "application/json" if content.lstrip().startswith(b"{") else ""
    else:
        body = case.body() if callable(case.body) else case.body
        headers = {**_auth(stack, case), **case.headers}
        if case.content_type is not None:
            headers["Content-Type"] = case.content_type
        try:
            response = requests.request(case.method, _url(stack, case), data=body, headers=headers, timeout=120)
            status, content = response.status_code, response.content
            content_type = response.headers.get("Content-Type", "")
        except requests.RequestException as exc:
            status, content, content_type, note = 0, b"", "", f"{type(exc).__name__}: {str(exc)[:120]}"
    seconds = time.perf_counter() - started
    json_error = False
    if status >= 400 and content_type.startswith("application/json"):
        with contextlib.suppress(ValueError, AttributeError):
            json_error = bool(json.loads(content)["error"]["message"])
    if status >= 400 and not note:
        note = content[:160].decode(errors="replace")
    stored = case.expect == "4xx" and _batches_count() > before
    return Outcome(case, status, seconds, json_error, stored, note)


REPORTED_FAILURES: set[int] = set()


def wait_for_worker(seconds: float = 180) -> str:
    """Until the worker has binned (or failed) every batch; returns what it left or failed since last asked."""
    from monitoring.models import InferenceBatch

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pending = InferenceBatch.objects.filter(status=InferenceBatch.Status.RECEIVED).count()
        if not pending:
            break
        time.sleep(0.5)
    failed = list(
        InferenceBatch.objects.filter(status=InferenceBatch.Status.FAILED)
        .exclude(pk__in=REPORTED_FAILURES)
        .values_list("pk", "error")
    )
    REPORTED_FAILURES.update(pk for pk, _ in failed)
    pending = InferenceBatch.objects.filter(status=InferenceBatch.Status.RECEIVED).count()
    return (f"{pending} batches not binned; " if pending else "") + (f"binning failed: {failed}" if failed else "")


# ---------------------------------------------------------------- the corpus


def _head(stack: Stack, lines: list[str], path: str = "") -> bytes:
    path = path or f"/api/v1/monitors/{stack.monitor_id}/batches/"
    text = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    return (text + "".join(f"{line}\r\n" for line in lines) + "\r\n").encode()


def _bearer(stack: Stack) -> str:
    return f"Authorization: Bearer {stack.ingest_key}"


def legal_cases() -> list[Case]:
    csv_50mb = csv_near_limit()
    upload, upload_type = multipart([("file", "batch.csv", "text/csv", csv_50mb)])
    return [
        Case("csv ~50 MB, rows near the cap", csv_50mb, expect="2xx"),
        Case("multipart upload of the ~50 MB CSV", upload, upload_type, expect="2xx"),
        Case("JSON records ~50 MB", json_near_limit, "application/json", expect="2xx"),
        Case("Parquet rows at the cap - 1", parquet_rows_at_cap, PARQUET, expect="2xx"),
        Case("Parquet zstd near the decompressed cap", parquet_decompressed_near_cap, PARQUET, expect="2xx"),
        Case("Parquet columns at the cap - 1", parquet_columns_near_cap, PARQUET, expect="2xx"),
        Case("CSV columns at the cap - 1, ~50 MB", csv_columns_near_cap, expect="2xx"),
        Case("1-row JSON", b'[{"feature_a": 0.5, "feature_b": 1.5, "segment": "north"}]', "application/json", "2xx"),
        Case("1-row CSV", b"feature_a,feature_b,segment\n0.5,1.5,north\n", expect="2xx"),
        Case("CSV with a UTF-8 BOM", b"\xef\xbb\xbf" + SMALL_CSV, expect="2xx"),
        Case("JSON with a UTF-8 BOM", b"\xef\xbb\xbf" + SMALL_JSON, "application/json", expect="2xx"),
    ]


def hostile_body_cases() -> list[Case]:
    long_name = "n" * 100_000
    return [
        Case("JSON under the byte limit, over the row cap (5 M records)", json_rows_over_cap, "application/json"),
        Case("0-row CSV (header only)", b"feature_a,feature_b,segment\n"),
        Case("0-row JSON", b"[]", "application/json"),
        Case("JSON one empty record", b"[{}]", "application/json"),
        Case("JSON records of no columns", b"[{}, {}, {}]", "application/json"),
        Case("CSV of blank lines", b"\n\n\n\n"),
        Case("CSV a lone BOM", b"\xef\xbb\xbf"),
        Case("JSON a lone BOM", b"\xef\xbb\xbf", "application/json"),
        Case("JSON nested 1M deep", b"[" * 1_000_000 + b"]" * 1_000_000, "application/json"),
        Case("JSON object nested 200k deep", b'{"records":' * 200_000 + b"1" + b"}" * 200_000, "application/json"),
        Case("JSON integer of 100k digits", b'[{"feature_a": ' + b"9" * 100_000 + b"}]", "application/json"),
        Case("JSON float 1e999 (inf)", b'[{"feature_a": 1e999, "feature_b": 1, "segment": "x"}]', "application/json"),
        Case("JSON inf in a mixed column", b'[{"feature_a": 1e999}, {"feature_a": "x"}]', "application/json", "any"),
        Case("JSON -Infinity", b'[{"feature_a": -Infinity}]', "application/json"),
        Case("JSON records not objects", b"[1, 2, 3]", "application/json"),
        Case("JSON list of lists", b"[[1, 2], [3, 4]]", "application/json"),
        Case("JSON records: 5", b'{"records": 5}', "application/json"),
        Case("JSON records: {}", b'{"records": {}}', "application/json"),
        Case("JSON null", b"null", "application/json"),
        Case("JSON a string", b'"feature_a"', "application/json"),
        Case("JSON duplicate keys in a record", b'[{"feature_a": 1, "feature_a": "x"}]', "application/json", "any"),
        Case("JSON NUL in a key", b'[{"feature_\\u0000a": 1}]', "application/json"),
        Case(
            "JSON NUL in a value",
            b'[{"feature_a": 1, "feature_b": 2, "segment": "a\\u0000b"}]',
            "application/json",
            "any",
        ),
        Case("JSON key of 100k chars", json.dumps([{long_name: 1}]).encode(), "application/json"),
        Case(
            "JSON 1e308 values",
            b'[{"feature_a": 1e308, "feature_b": -1e308, "segment": "x"}]',
            "application/json",
            "any",
        ),
        Case(
            "JSON mixed types per column",
            b'[{"feature_a": 1}, {"feature_a": "x"}, {"feature_a": true}]',
            "application/json",
            "any",
        ),
        Case(
            "JSON 40 MB string value",
            b'[{"feature_a": 1, "feature_b": 2, "segment": "' + b"s" * 40_000_000 + b'"}]',
            "application/json",
            "any",
        ),
        Case("JSON UTF-16 with BOM", "\ufeff[{}]".encode("utf-16"), "application/json"),
        Case("JSON overlong UTF-8 (C0 AF)", b'[{"a": "\xc0\xaf"}]', "application/json"),
        Case("JSON CESU surrogate bytes (ED A0 80)", b'[{"a": "\xed\xa0\x80"}]', "application/json"),
        Case("CSV NUL bytes in a row", b"feature_a,feature_b,segment\n1.0,2.0,no\x00rth\n", expect="any"),
        Case("CSV NUL byte in the header", b"feature_a,feat\x00ure_b,segment\n1.0,2.0,north\n"),
        Case("CSV only NUL bytes", b"\x00" * 10_000),
        Case("CSV latin-1", "feature_a,segment\n1,caf\u00e9\n".encode("latin-1")),
        Case("CSV UTF-16", "feature_a,segment\n1,x\n".encode("utf-16")),
        Case("CSV header of 100k-char column", (long_name + "\n1\n").encode()),
        Case("CSV header 1,000-char column name", ("c" * 1000 + ",feature_a\n1,2\n").encode()),
        Case("CSV 40 MB single field", b"feature_a,feature_b,segment\n1,2," + b"s" * 40_000_000 + b"\n", expect="any"),
        Case(
            "CSV 40 MB quoted field across lines",
            b'feature_a,segment\n1,"' + b"a\n" * 20_000_000 + b'"\n',
            expect="any",
        ),
        Case("CSV unterminated quote", b'feature_a,segment\n1,"north\n2,south\n'),
        Case("CSV row wider than the header", b"feature_a\n1,2,3,4,5\n"),
        Case("CSV 1,000,000 fields in one row", b"feature_a\n" + b"1," * 1_000_000 + b"1\n"),
        Case("CSV inf, -inf, 1e999", b"feature_a,feature_b\ninf,1\n-inf,2\n1e999,3\n"),
        Case("CSV integers over int64", b"feature_a,feature_b,segment\n99999999999999999999999,1,x\n", expect="any"),
        Case("CSV mixed types per column", b"feature_a,feature_b,segment\n1,2,x\nabc,3,y\nTrue,4,z\n", expect="any"),
        Case("CSV empty header names", b",,\n1,2,3\n", expect="any"),
        Case("CSV duplicate header after mangling", b"a,a.1,a\n1,2,3\n"),
        Case("CSV header only spaces", b"   \n1\n", expect="any"),
        Case("CSV 2,000,001 lines of a 1-column file", b"feature_a\n" + b"1\n" * (MAX_ROWS + 1)),
        Case("CSV \\r-only lines over the row cap", b"feature_a\r" + b"1\r" * (MAX_ROWS + 1)),
        Case("gzip bomb as text/csv", gzip_bomb, headers={"Content-Encoding": "gzip"}),
        Case("gzip bomb as JSON", gzip_bomb, "application/json", headers={"Content-Encoding": "gzip"}),
    ]


def hostile_parquet_cases() -> list[Case]:
    good = to_parquet(frame_of(100))
    return [
        Case("Parquet dictionary bomb (1 MB string x 2,000 rows)", parquet_dictionary_bomb, PARQUET),
        Case("Parquet list column: 1 row, 30 M values", parquet_list_bomb, PARQUET),
        Case("Parquet 50,000 row groups of one row", parquet_many_row_groups, PARQUET, expect="any"),
        Case(
            "Parquet rows over the cap, zstd",
            lambda: to_parquet(pa.table({"a": np.zeros(MAX_ROWS + 1)}), compression="zstd"),
            PARQUET,
        ),
        Case("Parquet footer length 0", good[:-8] + b"\x00\x00\x00\x00PAR1", PARQUET),
        Case("Parquet footer garbage", good[:-200] + b"\xff" * 192 + good[-8:], PARQUET),
        Case("Parquet body bytes flipped", good[:4] + bytes(b ^ 0xFF for b in good[4:-2000]) + good[-2000:], PARQUET),
        Case("Parquet magic only", b"PAR1PAR1", PARQUET),
        Case("Parquet empty table", lambda: to_parquet(pa.table({"feature_a": pa.array([], pa.float32())})), PARQUET),
        Case("Parquet no columns", lambda: to_parquet(pa.table({})), PARQUET),
        Case("Parquet struct column", lambda: to_parquet(pa.table({"s": pa.array([{"a": 1}, {"a": 2}])})), PARQUET),
        Case(
            "Parquet binary (not UTF-8) column",
            lambda: to_parquet(pa.table({"segment": pa.array([b"\xff\xfe", b"\x00"])})),
            PARQUET,
            "any",
        ),
        Case("Parquet NaN and inf doubles", lambda: to_parquet(pa.table({"feature_a": [np.nan, np.inf]})), PARQUET),
        Case("Parquet 100k-char column name", lambda: to_parquet(pa.table({"n" * 100_000: [1.0]})), PARQUET),
        Case(
            "Parquet decimal column",
            lambda: to_parquet(pa.table({"feature_a": pa.array([1, 2], pa.decimal128(38, 2))})),
            PARQUET,
            "any",
        ),
        Case(
            "Parquet timestamps out of pandas' range",
            lambda: to_parquet(pa.table({"t": pa.array([2**62], pa.timestamp("ms"))})),
            PARQUET,
            "any",
        ),
        Case("Parquet sent as text/csv", good, "text/csv"),
        Case("Parquet sent as JSON", good, "application/json"),
    ]


def hostile_http_cases() -> list[Case]:
    files, files_type = multipart([("file", "a.csv", "text/csv", SMALL_CSV), ("file", "b.csv", "text/csv", SMALL_CSV)])
    no_file, no_file_type = multipart([("other", "a.csv", "text/csv", SMALL_CSV)])
    text_field, text_field_type = multipart([("file", "", "", SMALL_CSV)])
    unnamed, unnamed_type = multipart([("file", "blob", "", SMALL_CSV)])
    long_boundary, long_boundary_type = multipart([("file", "a.csv", "text/csv", SMALL_CSV)], boundary="b" * 5000)
    quoted, _ = multipart([("file", "a.csv", "text/csv", SMALL_CSV)], boundary="q=1;x")
    parquet_as_csv, parquet_as_csv_type = multipart([("file", "a.csv", "text/csv", to_parquet(frame_of(10)))])
    nul_name, nul_name_type = multipart([("file", "a\x00.csv", "text/csv", SMALL_CSV)])

    def raw(lines: list[str], body: bytes = b"", path: str = "") -> Callable[[Stack], bytes]:
        return lambda stack: _head(stack, [_bearer(stack), *lines], path) + body

    return [
        Case("no Content-Type", SMALL_CSV, None),
        Case("text/plain", SMALL_CSV, "text/plain"),
        Case("application/octet-stream", SMALL_CSV, "application/octet-stream"),
        Case("CSV sent as JSON", SMALL_CSV, "application/json"),
        Case("JSON sent as CSV", SMALL_JSON, "text/csv", expect="any"),
        Case(
            "text/csv; charset=latin-1 with latin-1",
            "feature_a,segment\n1,caf\u00e9\n".encode("latin-1"),
            "text/csv; charset=latin-1",
        ),
        Case("Content-Type of 100 KB", SMALL_CSV, "text/csv; x=" + "a" * 100_000, expect="any"),
        Case("multipart two file fields", files, files_type, expect="any"),
        Case("multipart no file field", no_file, no_file_type),
        Case("multipart file as a text field", text_field, text_field_type),
        Case("multipart file without type or extension", unnamed, unnamed_type),
        Case("multipart 5,000-char boundary", long_boundary, long_boundary_type, expect="any"),
        Case("multipart boundary with ; and =", quoted, 'multipart/form-data; boundary="q=1;x"', expect="any"),
        Case("multipart boundary not in the body", files, "multipart/form-data; boundary=nothere"),
        Case("multipart truncated", files[: len(files) // 2], files_type),
        Case("multipart Parquet named .csv", parquet_as_csv, parquet_as_csv_type),
        Case("multipart NUL in the filename", nul_name, nul_name_type, expect="any"),
        Case("multipart/mixed", files, "multipart/mixed; boundary=BenchBoundary"),
        Case("Idempotency-Key of 201 chars", SMALL_CSV, headers={"Idempotency-Key": "k" * 201}),
        Case("Idempotency-Key unicode", SMALL_CSV, headers={"Idempotency-Key": "clé-ü"}, expect="any"),
        Case(
            "X-Column-Types 100k entries",
            SMALL_CSV,
            headers={"X-Column-Types": ",".join(f"c{i}=float32" for i in range(100_000))},
            expect="any",
        ),
        Case("X-Column-Types '=,=,'", SMALL_CSV, headers={"X-Column-Types": "=,=,"}),
        Case("Bearer of 1 MB", SMALL_CSV, headers={"Authorization": "Bearer " + "x" * 1_000_000}, expect="any"),
        Case("Content-Length -1", raw=raw(["Content-Type: text/csv", "Content-Length: -1"], SMALL_CSV)),
        Case(
            "Content-Length 10^20",
            raw=raw(["Content-Type: text/csv", "Content-Length: 100000000000000000000"], SMALL_CSV),
        ),
        Case("Content-Length not a number", raw=raw(["Content-Type: text/csv", "Content-Length: abc"], SMALL_CSV)),
        Case("Content-Length over the body", raw=raw(["Content-Type: text/csv", "Content-Length: 100000"], SMALL_CSV)),
        Case(
            "Content-Length under the body",
            raw=raw(["Content-Type: text/csv", "Content-Length: 30"], SMALL_CSV),
            expect="any",
        ),
        Case(
            "two Content-Length headers",
            raw=raw(["Content-Type: text/csv", "Content-Length: 5", f"Content-Length: {len(SMALL_CSV)}"], SMALL_CSV),
        ),
        Case(
            "two Content-Type headers",
            raw=raw(
                ["Content-Type: text/csv", "Content-Type: application/json", f"Content-Length: {len(SMALL_CSV)}"],
                SMALL_CSV,
            ),
            expect="any",
        ),
        Case(
            "two Authorization headers",
            raw=raw(
                ["Authorization: Bearer wrong", "Content-Type: text/csv", f"Content-Length: {len(SMALL_CSV)}"],
                SMALL_CSV,
            ),
            expect="any",
        ),
        Case(
            "chunked body",
            raw=raw(
                ["Content-Type: text/csv", "Transfer-Encoding: chunked"],
                f"{len(SMALL_CSV):x}\r\n".encode() + SMALL_CSV + b"\r\n0\r\n\r\n",
            ),
            expect="any",
        ),
        Case(
            "chunked and Content-Length",
            raw=raw(
                ["Content-Type: text/csv", "Transfer-Encoding: chunked", "Content-Length: 5"],
                b"5\r\nhello\r\n0\r\n\r\n",
            ),
        ),
        Case(
            "chunked 60 MB",
            raw=raw(
                ["Content-Type: text/csv", "Transfer-Encoding: chunked"],
                b"".join(b"100000\r\n" + b"1\n" * (0x100000 // 2) + b"\r\n" for _ in range(60)) + b"0\r\n\r\n",
            ),
            expect="any",
        ),
        Case(
            "header with a NUL",
            raw=raw(
                ["Content-Type: text/csv", "Idempotency-Key: a\x00b", f"Content-Length: {len(SMALL_CSV)}"], SMALL_CSV
            ),
            expect="any",
        ),
        Case(
            "header with latin-1 bytes",
            raw=lambda stack: (
                _head(stack, [_bearer(stack), "Content-Type: text/csv", f"Content-Length: {len(SMALL_CSV)}"]).replace(
                    b"Connection: close", b"X-Name: caf\xe9\r\nConnection: close"
                )
                + SMALL_CSV
            ),
            expect="any",
        ),
        Case(
            "monitor id of 30 digits",
            raw=raw(
                ["Content-Type: text/csv", f"Content-Length: {len(SMALL_CSV)}"],
                SMALL_CSV,
                path="/api/v1/monitors/" + "9" * 30 + "/batches/",
            ),
        ),
        Case(
            "monitor id 0",
            raw=raw(
                ["Content-Type: text/csv", f"Content-Length: {len(SMALL_CSV)}"],
                SMALL_CSV,
                path="/api/v1/monitors/0/batches/",
            ),
        ),
        Case("GET on batches", b"", None, method="GET"),
        Case("PUT on batches", SMALL_CSV, method="PUT"),
    ]


def reference_cases() -> list[Case]:
    thirty = frame_of(30, seed=8)
    return [
        Case("reference: CSV ~50 MB, rows near the cap", csv_near_limit, endpoint="reference", expect="2xx"),
        Case(
            "reference: Parquet near the decompressed cap",
            parquet_decompressed_near_cap,
            PARQUET,
            endpoint="reference",
            expect="2xx",
        ),
        Case("reference: 30 rows", thirty.to_csv(index=False).encode(), endpoint="reference", expect="2xx"),
        Case("reference: 29 rows", thirty.head(29).to_csv(index=False).encode(), endpoint="reference"),
        Case(
            "reference: over the byte limit",
            lambda: b"feature_a,feature_b,segment\n" + b"1.0,2.0,north\n" * (MAX_BYTES // 14 + 10),
            endpoint="reference",
        ),
        Case(
            "reference: strings in a numeric feature",
            b"feature_a,feature_b,segment\n" + b"x,1,north\n" * 40,
            endpoint="reference",
        ),
        Case(
            "reference: all-empty numeric feature",
            b"feature_a,feature_b,segment\n" + b",1,north\n" * 40,
            endpoint="reference",
            expect="any",
        ),
        Case(
            "reference: 1e308 values",
            b"feature_a,feature_b,segment\n" + b"1e308,-1e308,north\n1e307,1,south\n" * 20,
            endpoint="reference",
            expect="any",
        ),
        Case("reference: the features missing", b"x,y\n" + b"1,2\n" * 40, endpoint="reference"),
        Case(
            "reference: NUL in a value",
            b"feature_a,feature_b,segment\n" + b"1,2,no\x00rth\n" * 40,
            endpoint="reference",
            expect="any",
        ),
        Case("reference: inf", b"feature_a,feature_b,segment\n" + b"inf,2,north\n" * 40, endpoint="reference"),
        Case("reference: dictionary bomb", parquet_dictionary_bomb, PARQUET, endpoint="reference"),
        Case("reference: JSON is not taken", SMALL_JSON, "application/json", endpoint="reference"),
        Case("reference: no Content-Type", SMALL_CSV, None, endpoint="reference"),
        Case("reference: multipart", *multipart([("file", "a.csv", "text/csv", SMALL_CSV)]), endpoint="reference"),
        Case(
            "reference: Content-Length 10^20",
            raw=lambda s: (
                _head(
                    s,
                    [
                        f"Authorization: Token {s.api_key}",
                        "Content-Type: text/csv",
                        "Content-Length: 100000000000000000000",
                    ],
                    f"/api/v1/monitors/{s.monitor_id}/reference/",
                )
                + SMALL_CSV
            ),
            endpoint="reference",
        ),
        Case(
            "reference: Content-Length -1",
            raw=lambda s: (
                _head(
                    s,
                    [f"Authorization: Token {s.api_key}", "Content-Type: text/csv", "Content-Length: -1"],
                    f"/api/v1/monitors/{s.monitor_id}/reference/",
                )
                + SMALL_CSV
            ),
            endpoint="reference",
        ),
        Case("reference: unknown monitor of 30 digits", SMALL_CSV, endpoint="monitors/" + "9" * 30 + "/reference/"),
    ]


# ---------------------------------------------------------------- running


@dataclass
class Category:
    name: str
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    worker_note: str = ""


def run_category(
    stack: Stack, sampler: RssSampler, name: str, cases: list[Case], concurrent: int = 1, settle: bool = False
) -> Category:
    """Sends the cases (`concurrent` at a time); with `settle`, waits for the worker after each case
    so that its memory is the case's own."""
    sampler.category, sampler.case = name, ""
    category = Category(name)
    started = time.perf_counter()
    if concurrent > 1:
        with ThreadPoolExecutor(concurrent) as pool:
            category.outcomes = list(pool.map(lambda case: send(stack, case), cases))
    else:
        for case in cases:
            sampler.case = case.name
            category.outcomes.append(send(stack, case))
            if settle:
                category.worker_note += wait_for_worker()
        sampler.case = ""
    category.worker_note += wait_for_worker()
    category.seconds = time.perf_counter() - started
    return category


def drift_category(stack: Stack, sampler: RssSampler) -> Category:
    sampler.category = name = "drift job on what was accepted"
    category = Category(name)
    started = time.perf_counter()
    headers = {"Authorization": f"Token {stack.api_key}"}
    base = f"{stack.base}/api/v1/monitors/{stack.monitor_id}"
    response = requests.post(f"{base}/run-drift/", headers=headers, timeout=60)
    run_id = response.json().get("id")
    outcome = Outcome(Case("POST run-drift", expect="2xx"), response.status_code, 0.0, False, False)
    category.outcomes.append(outcome)
    from monitoring.models import DriftRun  # the API lists finished runs only: a failed one is read here

    deadline = time.monotonic() + 240
    run = None
    while time.monotonic() < deadline:
        run = DriftRun.objects.filter(pk=run_id).first()
        if run is None or run.status in (DriftRun.Status.DONE, DriftRun.Status.FAILED):
            break
        time.sleep(0.5)
    category.seconds = time.perf_counter() - started
    outcome.seconds = category.seconds
    drifted = sorted(run.results.filter(drifted=True).values_list("feature", flat=True)) if run else []
    category.worker_note = (
        f"run {run_id}: {run.status}, {run.rows} rows in {run.batches} batches, drifted {drifted}"
        + (f", error {run.error[:200]}" if run.error else "")
        if run
        else f"run {run_id} not found"
    )
    return category


def _mb(kb: int) -> float:
    return kb / 1024


def report(categories: list[Category], sampler: RssSampler, idle: dict[str, Peak]) -> int:
    print(
        f"\nCaps: {MAX_BYTES:,} bytes per body, {MAX_ROWS:,} rows, {MAX_COLUMNS:,} columns, "
        f"{MAX_DECOMPRESSED:,} bytes decompressed; RSS budget {BUDGET_MB} MB per process"
    )
    print(
        f"Floor, idle after warm-up: web {_mb(idle['web'].one):.0f} MB per worker process "
        f"({_mb(idle['web'].total):.0f} MB for master + 2 workers), celery {_mb(idle['worker'].one):.0f} MB "
        f"per process ({_mb(idle['worker'].total):.0f} MB all)\n"
    )
    header = f"{'category':<40} {'req':>4} {'statuses':<34} {'5xx':>3} {'!json':>5} {'stored':>6} "
    header += f"{'web MB':>7} {'x512':>5} {'x idle':>6} {'wrk MB':>7} {'x512':>5} {'x idle':>6} {'s':>6}"
    print(header)
    problems = []
    refused_by_server: list[str] = []
    for category in categories:
        statuses = Counter(o.status for o in category.outcomes)
        fives = [o for o in category.outcomes if o.status >= 500 or o.status == 0]
        not_json = [o for o in category.outcomes if o.status >= 400 and not o.json_error]
        stored = [o for o in category.outcomes if o.stored]
        web, worker = sampler.peak(category.name, "web"), sampler.peak(category.name, "worker")
        print(
            f"{category.name[:40]:<40} {len(category.outcomes):>4} "
            f"{' '.join(f'{s}x{n}' for s, n in sorted(statuses.items()))[:34]:<34} {len(fives):>3} "
            f"{len(not_json):>5} {len(stored):>6} {_mb(web.one):>7.0f} {_mb(web.one) / BUDGET_MB:>5.2f} "
            f"{web.one / max(idle['web'].one, 1):>6.1f} {_mb(worker.one):>7.0f} {_mb(worker.one) / BUDGET_MB:>5.2f} "
            f"{worker.one / max(idle['worker'].one, 1):>6.1f} {category.seconds:>6.1f}"
        )
        for outcome in category.outcomes:
            # gunicorn answers malformed HTTP (bad or duplicate Content-Length, oversized headers,
            # NULs in headers) itself, in HTML, before any of the portal runs: a clean refusal, counted
            # apart.
            if outcome.status in (400, 431) and outcome.note.lstrip().startswith("<html>"):
                refused_by_server.append(f"{outcome.case.name} ({outcome.status})")
                continue
            wrong = (
                outcome.status >= 500
                or outcome.status == 0
                or (outcome.status >= 400 and not outcome.json_error)
                or outcome.stored
                or (outcome.case.expect == "2xx" and not 200 <= outcome.status < 300)
                or (outcome.case.expect == "4xx" and not 400 <= outcome.status < 500)
            )
            if wrong:
                problems.append(
                    f"  [{category.name}] {outcome.case.name}: {outcome.status or 'no answer'} "
                    f"(expected {outcome.case.expect}{', stored' if outcome.stored else ''}"
                    f"{', not JSON' if outcome.status >= 400 and not outcome.json_error else ''}) "
                    f"{outcome.seconds:.1f} s {outcome.note[:200]!r}"
                )
        if category.worker_note:
            problems.append(f"  [{category.name}] worker: {category.worker_note}")
        for outcome in category.outcomes:
            key = f"{category.name}: {outcome.case.name}"
            web, worker = sampler.peak(key, "web"), sampler.peak(key, "worker")
            if category.name in DETAILED or max(web.one, worker.one) > BUDGET_MB * 1024:
                print(
                    f"    {outcome.case.name[:52]:<52} {outcome.status:>3} web {_mb(web.one):>5.0f} MB "
                    f"({_mb(web.one) / BUDGET_MB:.2f})  worker {_mb(worker.one):>5.0f} MB "
                    f"({_mb(worker.one) / BUDGET_MB:.2f})  {outcome.seconds:5.1f} s"
                )
    slowest = sorted((o for c in categories for o in c.outcomes), key=lambda o: -o.seconds)[:5]
    print("\nSlowest requests: " + "; ".join(f"{o.case.name} {o.seconds:.1f} s" for o in slowest))
    all_web = max((sampler.peak(c.name, "web").one for c in categories), default=0)
    all_worker = max((sampler.peak(c.name, "worker").one for c in categories), default=0)
    print(
        f"Peak RSS over the corpus: web {_mb(all_web):.0f} MB ({_mb(all_web) / BUDGET_MB:.2f} of the budget), "
        f"worker {_mb(all_worker):.0f} MB ({_mb(all_worker) / BUDGET_MB:.2f})"
    )
    if refused_by_server:
        print("\nRefused by gunicorn before the portal (malformed HTTP, HTML answers): " + "; ".join(refused_by_server))
    print("\nProblems (5xx, no answer, non-JSON errors, hostile input stored, legal input refused):")
    print("\n".join(problems) if problems else "  none")
    return 1 if problems or max(all_web, all_worker) > BUDGET_MB * 1024 else 0


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    log = VAR_DIR / "stack.log"
    started = time.perf_counter()
    try:
        with portal_stack(log) as stack:
            sampler = RssSampler(stack.roots)
            sampler.start()
            if ARGS.serve:
                print(
                    f"Portal {stack.base}  monitor {stack.monitor_id}\n  ingest: Authorization: Bearer "
                    f"{stack.ingest_key}\n  API:    Authorization: Token {stack.api_key}\n  log: {log}\nCtrl-C stops."
                )
                while True:
                    time.sleep(3600)
            print(f"Stack up in {time.perf_counter() - started:.1f} s ({VAR_DIR})")
            sampler.category = "warm-up"
            for _ in range(16):  # every gunicorn thread imports what a batch needs
                send(stack, Case("warm-up", SMALL_CSV, expect="2xx"))
            wait_for_worker()
            time.sleep(1)
            sampler.category = "idle"
            time.sleep(2)
            idle = {role: sampler.peak("idle", role) for role in stack.roots}
            plan = [
                ("legal, near the caps", legal_cases, 1, True),
                ("hostile bodies", hostile_body_cases, 1, False),
                ("hostile Parquet", hostile_parquet_cases, 1, False),
                ("hostile HTTP", hostile_http_cases, 1, False),
                (
                    "8 x 50 MB CSV at once",
                    lambda: [Case(f"csv {i}", csv_near_limit(), expect="any") for i in range(8)],
                    8,
                    False,
                ),
            ]
            only = {name.strip() for name in ARGS.only.split(",") if name.strip()}
            categories = []
            for name, cases, concurrent, settle in plan:
                if not only or any(o in name for o in only):
                    categories.append(run_category(stack, sampler, name, cases(), concurrent, settle))
                    print(f"  {name}: {categories[-1].seconds:.1f} s", flush=True)
            if not only or "drift" in only:
                categories.append(drift_category(stack, sampler))
            if not only or "reference" in only:
                categories.append(run_category(stack, sampler, "reference uploads", reference_cases(), settle=True))
            sampler.done.set()
            code = report(categories, sampler, idle)
            print(f"\nTotal {time.perf_counter() - started:.0f} s")
            return code
    except KeyboardInterrupt:
        print("\nStopped.")
        return 130
    finally:
        if os.environ.get("BENCH_KEEP_LOGS"):
            print(f"Logs kept in {VAR_DIR}")
        else:
            shutil.rmtree(VAR_DIR, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
