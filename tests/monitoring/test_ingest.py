"""POST /api/v1/monitors/{id}/batches/: formats, tokens, idempotency and every bad input."""

import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitoring.models import Alert, InferenceBatch, IngestToken, SchemaMismatch
from monitoring.services import ingest_tokens, monitors
from tests.monitoring.conftest import reference_frame, to_parquet

pytestmark = pytest.mark.django_db(transaction=False)


def post(client, monitor, body, content_type, key, **headers):
    return client.post(
        f"/api/v1/monitors/{monitor.pk}/batches/",
        body,
        content_type=content_type,
        headers={"Authorization": f"Bearer {key}", **headers},
    )


def stored_files(storage_dir):
    return [p for p in storage_dir.rglob("batches/**/*") if p.is_file()] if storage_dir.exists() else []


def assert_nothing_stored(monitor, storage_dir):
    assert InferenceBatch.objects.filter(monitor=monitor).count() == 0
    assert stored_files(storage_dir) == []


def test_json_records_are_stored_with_an_id_and_a_received_time(client, monitor, ingest_key, monitoring_storage):
    records = reference_frame(20).astype({"feature_a": float, "feature_b": float}).to_dict("records")
    response = post(client, monitor, json.dumps(records), "application/json", ingest_key)
    assert response.status_code == 201, response.content
    body = response.json()
    batch = InferenceBatch.objects.get(pk=body["id"])
    assert batch.rows == 20 and batch.format == "json" and body["received_at"]
    assert body["schema_mismatch"] is None  # untyped numbers are fine where float32 is expected
    assert len(stored_files(monitoring_storage)) == 1


def test_csv_and_parquet_bodies_and_multipart_uploads_are_accepted(client, monitor, ingest_key):
    frame = reference_frame(10)
    assert post(client, monitor, frame.to_csv(index=False), "text/csv", ingest_key).status_code == 201
    assert post(client, monitor, to_parquet(frame), "application/vnd.apache.parquet", ingest_key).status_code == 201
    upload = io.BytesIO(to_parquet(frame))
    upload.name = "batch.parquet"
    response = client.post(
        f"/api/v1/monitors/{monitor.pk}/batches/", {"file": upload}, headers={"Authorization": f"Bearer {ingest_key}"}
    )
    assert response.status_code == 201, response.content
    assert sorted(InferenceBatch.objects.values_list("format", flat=True)) == ["csv", "parquet", "parquet"]


def test_an_extra_float64_column_and_a_float64_for_float32_make_one_schema_alert_naming_both(
    client, monitor, ingest_key
):
    frame = reference_frame(50)
    frame["feature_b"] = frame["feature_b"].astype(np.float64)
    frame["feature_c"] = np.ones(50, dtype=np.float64)
    body = to_parquet(frame)
    first = post(client, monitor, body, "application/vnd.apache.parquet", ingest_key)
    second = post(client, monitor, body, "application/vnd.apache.parquet", ingest_key)
    assert first.status_code == second.status_code == 201
    diffs = first.json()["schema_mismatch"]["diffs"]
    assert [(d["column"], d["change"], d["expected"], d["received"]) for d in diffs] == [
        ("feature_b", "type_change", "float", "double"),
        ("feature_c", "extra", "", "double"),
    ]
    assert SchemaMismatch.objects.count() == 2  # logged per batch
    alert = Alert.objects.get(kind=Alert.Kind.SCHEMA_MISMATCH)  # one alert for the same change
    assert alert.occurrences == 2
    assert "feature_b" in alert.title and "feature_c" in alert.title
    assert InferenceBatch.objects.count() == 2  # batches with mismatches are kept


def test_a_retried_post_with_the_same_idempotency_key_returns_the_first_batch(
    client, monitor, ingest_key, monitoring_storage
):
    body = reference_frame(5).to_csv(index=False)
    first = post(client, monitor, body, "text/csv", ingest_key, **{"Idempotency-Key": "k-1"})
    again = post(client, monitor, body, "text/csv", ingest_key, **{"Idempotency-Key": "k-1"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again["Idempotent-Replayed"] == "true"
    assert InferenceBatch.objects.count() == 1 and len(stored_files(monitoring_storage)) == 1


def test_an_idempotency_key_reused_for_a_different_body_gets_422_and_the_first_batch_is_untouched(
    client, monitor, ingest_key, monitoring_storage
):
    first_body = reference_frame(5).to_csv(index=False)
    first = post(client, monitor, first_body, "text/csv", ingest_key, **{"Idempotency-Key": "k-2"})
    other_body = reference_frame(6).to_csv(index=False)
    other = post(client, monitor, other_body, "text/csv", ingest_key, **{"Idempotency-Key": "k-2"})
    assert first.status_code == 201 and other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    batch = InferenceBatch.objects.get()
    assert batch.pk == first.json()["id"] and batch.rows == 5 and len(stored_files(monitoring_storage)) == 1


def test_a_missing_wrong_or_revoked_token_gets_401_and_an_unknown_monitor_404(
    client, monitor, ingest_key, monitoring_storage
):
    body = reference_frame(5).to_csv(index=False)
    no_token = client.post(f"/api/v1/monitors/{monitor.pk}/batches/", body, content_type="text/csv")
    assert no_token.status_code == 401 and no_token.json()["error"]["message"]
    assert post(client, monitor, body, "text/csv", "mpi_wrong").status_code == 401
    response = client.post(
        "/api/v1/monitors/999999/batches/", body, content_type="text/csv", headers={"Authorization": "Bearer x"}
    )
    assert response.status_code == 404
    IngestToken.objects.update(revoked_at="2026-01-01T00:00:00Z")
    assert post(client, monitor, body, "text/csv", ingest_key).status_code == 401
    assert_nothing_stored(monitor, monitoring_storage)


def test_the_token_is_stored_hashed(monitor, ingest_key):
    token = IngestToken.objects.get()
    assert ingest_key not in (token.key_hash, token.prefix) and token.key_hash != ingest_key
    assert ingest_key.startswith(token.prefix)


def truncated_parquet():
    return to_parquet(reference_frame(100))[:-40] + b"PAR1"


def huge_header_parquet():
    data = to_parquet(reference_frame(10))
    return data[:-8] + (2**31).to_bytes(4, "little") + b"PAR1"


def duplicate_columns_parquet():
    table = pa.table([pa.array([1.0, 2.0]), pa.array([3.0, 4.0])], names=["feature_a", "feature_a"])
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "parse_error"),
        (b"[]", "application/json", 400, "empty"),
        (b"", "text/csv", 400, "empty"),
        (b"feature_a,feature_b\n", "text/csv", 400, "empty"),
        (b'[{"feature_a": NaN}]', "application/json", 400, "non_finite"),
        (b"feature_a,feature_b\ninf,1\n", "text/csv", 400, "non_finite"),
        ("feature_a,segment\n1,caf\u00e9\n".encode("latin-1"), "text/csv", 400, "not_utf8"),
        (b"feature_a,feature_a\n1,2\n", "text/csv", 400, "duplicate_columns"),
        (b"PAR1 this is not parquet at all PAR0", "application/vnd.apache.parquet", 400, "not_parquet"),
        (b"hello", "application/vnd.apache.parquet", 400, "not_parquet"),
        (truncated_parquet(), "application/vnd.apache.parquet", 400, "corrupt_parquet"),
        (huge_header_parquet(), "application/vnd.apache.parquet", 400, "corrupt_parquet"),
        (duplicate_columns_parquet(), "application/vnd.apache.parquet", 400, "duplicate_columns"),
        (b"a,b\n1,2\n", "application/xml", 415, "unsupported_media_type"),
    ],
)
def test_bad_input_gets_a_precise_4xx_and_nothing_is_stored(
    client, monitor, ingest_key, monitoring_storage, body, content_type, status, code
):
    response = post(client, monitor, body, content_type, ingest_key)
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert_nothing_stored(monitor, monitoring_storage)
    assert Alert.objects.count() == 0


def test_a_batch_over_the_size_limit_gets_413(client, monitor, ingest_key, monitoring_storage, settings):
    settings.MONITORING_MAX_BATCH_BYTES = 1000
    body = reference_frame(200).to_csv(index=False)
    response = post(client, monitor, body, "text/csv", ingest_key)
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    assert_nothing_stored(monitor, monitoring_storage)


def test_the_event_time_column_sets_the_batch_time(client, monitor, ingest_key):
    monitor.event_time_column = "ts"
    monitor.save()
    frame = reference_frame(3)
    frame["ts"] = ["2026-11-02T10:00:00Z", "2026-11-01T09:00:00Z", "2026-11-03T00:00:00Z"]
    response = post(client, monitor, frame.to_csv(index=False), "text/csv", ingest_key)
    assert response.status_code == 201
    assert InferenceBatch.objects.get().event_time.isoformat() == "2026-11-01T09:00:00+00:00"
    frame["ts"] = ["yesterday", "x", "y"]
    assert (
        post(client, monitor, frame.to_csv(index=False), "text/csv", ingest_key).json()["error"]["code"]
        == "bad_event_time"
    )


def test_a_string_sent_where_a_number_is_expected_is_a_mismatch(client, monitor, ingest_key):
    records = [{"feature_a": "high", "feature_b": 1.0, "segment": "north"}]
    diffs = post(client, monitor, json.dumps(records), "application/json", ingest_key).json()["schema_mismatch"][
        "diffs"
    ]
    assert diffs[0]["column"] == "feature_a" and diffs[0]["received"] == "string"
    assert pd.isna(np.nan)


# --- JSON and CSV with declared column types ---------------------------------------------------------


def _float32_monitor(project, **options):
    schema = [{"name": "feature_a", "type": "float", "required": True}]
    return monitors.monitor_create(
        actor=None, project=project, name="typed", model_name="m", expected_schema=schema, **options
    )


def _post(client, monitor, body, content_type, **headers):
    key = ingest_tokens.ingest_token_create(actor=None, monitor=monitor).key
    return post(client, monitor, body, content_type, key, **headers)


def test_json_can_only_show_a_number_but_a_declared_float64_is_caught_against_float32(client, project):
    monitor = _float32_monitor(project)
    body = json.dumps([{"feature_a": 1.5}, {"feature_a": 2.5}])

    undeclared = _post(client, monitor, body, "application/json")
    declared = _post(client, monitor, body, "application/json", **{"X-Column-Types": "feature_a=float64"})

    assert undeclared.status_code == declared.status_code == 201
    assert undeclared.json()["schema_mismatch"] is None  # a number where float32 is expected: all JSON can say
    diffs = declared.json()["schema_mismatch"]["diffs"]
    assert [(d["column"], d["change"], d["expected"], d["received"]) for d in diffs] == [
        ("feature_a", "type_change", "float", "double")
    ]


def test_a_monitor_can_require_untyped_batches_to_declare_their_types(client, project):
    monitor = _float32_monitor(project, require_declared_types=True)
    csv_body = "feature_a\n1.5\n"
    refused = _post(client, monitor, csv_body, "text/csv")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "types_required"
    accepted = _post(client, monitor, csv_body, "text/csv", **{"X-Column-Types": "feature_a=float32"})
    assert accepted.status_code == 201 and accepted.json()["schema_mismatch"] is None
    assert InferenceBatch.objects.filter(monitor=monitor).count() == 1


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("feature_a", "is not name=type"),
        ("feature_a=float128", "is not a type"),
        ("feature_a=string", "declared string but its values are number"),
        ("feature_b=float32", "declared float but not in the batch"),
    ],
)
def test_a_declaration_that_is_malformed_or_contradicts_the_data_is_refused(client, project, header, message):
    monitor = _float32_monitor(project)
    response = _post(client, monitor, '[{"feature_a": 1.5}]', "application/json", **{"X-Column-Types": header})
    assert response.status_code == 400 and message in response.json()["error"]["message"]
    assert not InferenceBatch.objects.filter(monitor=monitor).exists()


# --- Hostile bodies: a clear 4xx, never a 500, and nothing stored --------------------------------------


def _parquet_with_pandas_metadata(metadata: bytes) -> bytes:
    table = pa.table({"feature_a": [1.0], "feature_b": [2.0], "segment": ["north"]})
    buffer = io.BytesIO()
    pq.write_table(table.replace_schema_metadata({b"pandas": metadata}), buffer)
    return buffer.getvalue()


def _multipart(parts: int, *, files: bool) -> bytes:
    chunks = []
    for i in range(parts):
        disposition = f'form-data; name="f{i}"' + (f'; filename="f{i}.csv"' if files else "")
        chunks.append(f"--XB\r\nContent-Disposition: {disposition}\r\n\r\nx\r\n")
    return ("".join(chunks) + "--XB--\r\n").encode()


HOSTILE = {
    "csv-field-over-the-csv-module-limit": (b"a" * 140_000 + b"\n1\n", "text/csv"),
    "json-nested-100000-deep": (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    "json-integer-of-5000-digits": (b'[{"feature_a": ' + b"1" * 5000 + b"}]", "application/json"),
    "json-lone-surrogate-key": (b'[{"\\ud800": 1}]', "application/json"),
    "json-lone-surrogate-value": (b'[{"feature_a": 1, "segment": "\\udfff"}]', "application/json"),
    "parquet-pandas-metadata-not-json": (_parquet_with_pandas_metadata(b"not json"), "application/vnd.apache.parquet"),
    "parquet-pandas-metadata-wrong-shape": (
        _parquet_with_pandas_metadata(b'{"columns": 5, "index_columns": "x"}'),
        "application/vnd.apache.parquet",
    ),
    "parquet-pandas-metadata-bogus-dtype": (
        _parquet_with_pandas_metadata(
            b'{"index_columns": [], "column_indexes": [], "columns": [{"name": "feature_a", "field_name": '
            b'"feature_a", "pandas_type": "bogus", "numpy_type": "no-such-dtype", "metadata": null}]}'
        ),
        "application/vnd.apache.parquet",
    ),
    "multipart-without-boundary": (b"--XB\r\n\r\n", "multipart/form-data"),
    "multipart-with-empty-boundary": (b"--\r\n\r\n", "multipart/form-data; boundary="),
    "multipart-2000-fields": (_multipart(2000, files=False), "multipart/form-data; boundary=XB"),
    "multipart-1200-files": (_multipart(1200, files=True), "multipart/form-data; boundary=XB"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_body_gets_a_clear_4xx_and_nothing_is_stored(client, monitor, ingest_key, monitoring_storage, case):
    body, content_type = HOSTILE[case]
    response = post(client, monitor, body, content_type, ingest_key)
    assert 400 <= response.status_code < 500, (case, response.status_code, response.content[:300])
    assert response.json()["error"]["message"]
    assert not InferenceBatch.objects.filter(monitor=monitor).exists()
    assert stored_files(monitoring_storage) == []


def test_csv_with_old_mac_line_endings_is_read():
    from monitoring.ingest import parse_batch

    frame = parse_batch(b"feature_a,segment\r1.5,north\r2.5,south\r", fmt="csv", max_bytes=1000).frame
    assert list(frame["feature_a"]) == [1.5, 2.5]


# --- Caps on what a batch holds once read: checked before the work it would cost ----------------------


def _zstd_parquet(rows: int) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"feature_a": np.zeros(rows)}), buffer, compression="zstd")
    return buffer.getvalue()


def test_a_tiny_parquet_file_that_decompresses_to_millions_of_rows_is_refused_from_its_metadata(
    client, monitor, ingest_key, monitoring_storage, settings
):
    body = _zstd_parquet(3_000_000)
    assert len(body) < 200_000  # the compressed size passes any byte limit
    response = post(client, monitor, body, "application/vnd.apache.parquet", ingest_key)
    assert response.status_code == 413
    assert response.json()["error"]["code"] in ("too_many_rows", "too_large")
    assert not InferenceBatch.objects.exists() and stored_files(monitoring_storage) == []


def test_the_decompressed_size_of_parquet_is_capped_too(client, monitor, ingest_key, settings):
    settings.MONITORING_MAX_DECOMPRESSED_BYTES = 1_000_000
    response = post(client, monitor, _zstd_parquet(500_000), "application/vnd.apache.parquet", ingest_key)
    assert response.status_code == 413 and "once decompressed" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (",".join(f"c{i}" for i in range(100_000)).encode() + b"\n" + b"1," * 99_999 + b"1\n", "text/csv"),
        (json.dumps([{f"c{i}": 1 for i in range(100_000)}]).encode(), "application/json"),
    ],
    ids=["csv", "json"],
)
def test_a_batch_of_100000_columns_is_refused_at_once(client, monitor, ingest_key, body, content_type):
    import time

    started = time.perf_counter()
    response = post(client, monitor, body, content_type, ingest_key)
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_many_columns"
    # Not a speed goal: a refusal that took the old 77 s would mean the width was read first.
    assert time.perf_counter() - started < 10


def test_more_rows_than_the_limit_are_refused_for_csv_and_json(client, monitor, ingest_key, settings):
    settings.MONITORING_MAX_ROWS = 100
    csv_body = "feature_a\n" + "1.0\n" * 101
    json_body = json.dumps([{"feature_a": 1.0}] * 101)
    for body, content_type in ((csv_body, "text/csv"), (json_body, "application/json")):
        response = post(client, monitor, body, content_type, ingest_key)
        assert response.status_code == 413 and response.json()["error"]["code"] == "too_many_rows", content_type


# --- A fresh hostile corpus (bench/hostile_input.py): what got through or cost memory before ----------


def _peak_rss_growth(function) -> int:
    """Bytes the process's peak RSS grew by while `function` ran (VmHWM, reset first)."""
    from pathlib import Path

    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS

    def hwm() -> int:
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM"))
        return int(line.split()[1]) * 1024

    before = hwm()
    function()
    return hwm() - before


def _dictionary_bomb(rows: int) -> bytes:
    """One 1 MB string, dictionary-encoded in `rows` rows, written without the Arrow schema (as other
    writers do): a few hundred bytes, and rows x 1 MB of text once the dictionary is expanded."""
    array = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, dtype=np.int32)), pa.array(["x" * 1_000_000]))
    buffer = io.BytesIO()
    pq.write_table(pa.table({"segment": array}), buffer, compression="zstd", store_schema=False)
    return buffer.getvalue()


def test_a_parquet_dictionary_bomb_is_refused_before_its_text_is_expanded(
    client, monitor, ingest_key, monitoring_storage
):
    body = _dictionary_bomb(400)  # 400 MB of text; its metadata says a few kilobytes
    assert len(body) < 1000
    response = None

    def send():
        nonlocal response
        response = post(client, monitor, body, "application/vnd.apache.parquet", ingest_key)

    growth = _peak_rss_growth(send)
    assert response.status_code == 413 and "once its text is expanded" in response.json()["error"]["message"]
    assert growth < 100 * 2**20, f"RSS grew by {growth / 2**20:.0f} MB"  # was 400 MB + the pandas copy
    assert_nothing_stored(monitor, monitoring_storage)


def test_text_read_as_a_dictionary_comes_back_as_the_same_columns(client, monitor, ingest_key):
    from monitoring.ingest import parse_batch

    table = pa.table({"feature_a": [1.0, 2.0, 3.0], "segment": ["north", None, "north"]})
    for store_schema in (True, False):
        buffer = io.BytesIO()
        pq.write_table(table, buffer, store_schema=store_schema)
        frame = parse_batch(buffer.getvalue(), fmt="parquet", max_bytes=10**6).frame
        assert frame["segment"].tolist()[::2] == ["north", "north"] and pd.isna(frame["segment"][1])
        assert not isinstance(frame["segment"].dtype, pd.CategoricalDtype)
        assert pd.api.types.is_string_dtype(frame["segment"].dtype)


def test_a_parquet_list_column_is_refused_whatever_its_row_count_says(client, monitor, ingest_key, monitoring_storage):
    values = pa.array(np.zeros(1_000_000))
    buffer = io.BytesIO()
    pq.write_table(pa.table({"feature_a": pa.ListArray.from_arrays([0, len(values)], values)}), buffer)
    response = post(client, monitor, buffer.getvalue(), "application/vnd.apache.parquet", ingest_key)
    assert response.status_code == 400 and "nested values" in response.json()["error"]["message"]
    assert_nothing_stored(monitor, monitoring_storage)


def test_json_over_the_row_cap_is_refused_as_it_is_walked_not_after_building_every_record(
    client, monitor, ingest_key, settings
):
    settings.MONITORING_MAX_ROWS = 1000
    body = b"[" + b",".join([b'{"a":1}'] * 2_000_000) + b"]"  # 16 MB
    response = None

    def send():
        nonlocal response
        response = post(client, monitor, body, "application/json", ingest_key)

    growth = _peak_rss_growth(send)
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_many_rows"
    # json.loads built two million dicts first: about 430 MB.
    assert growth < 150 * 2**20, f"RSS grew by {growth / 2**20:.0f} MB"


@pytest.mark.parametrize(
    "body",
    [
        b'{"meta": {"x": [1, {"y": "]"}]}, "records": [{"feature_a": 1.5, "feature_b": 2, "segment": "n"}]}',
        b'{"records": [{"feature_a": 1.5, "feature_b": 2, "segment": "n"}], "meta": "}"}',
        b'[{"feature_a": 1.5, "segment": "n"}, {"feature_b": 2}]',
    ],
)
def test_json_records_are_still_read_in_both_shapes(client, monitor, ingest_key, body):
    response = post(client, monitor, body, "application/json", ingest_key)
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    "body",
    [b"[{}, {}]", b'{"records": [{}]}', b'[{"a": 1}] trailing', b'{"records": [{"a": 1}]', b'{"records": 5}'],
)
def test_json_records_without_columns_or_with_trailing_bytes_are_refused(
    client, monitor, ingest_key, monitoring_storage, body
):
    response = post(client, monitor, body, "application/json", ingest_key)
    assert response.status_code == 400 and response.json()["error"]["code"] in ("empty", "parse_error")
    assert_nothing_stored(monitor, monitoring_storage)


def test_a_50_mb_csv_is_read_without_copies_of_its_text(monitor, settings):
    from monitoring.ingest import parse_batch

    body = reference_frame(1_500_000).to_csv(index=False, float_format="%.6f").encode()  # ~40 MB
    growth = _peak_rss_growth(lambda: parse_batch(body, fmt="csv", max_bytes=len(body)))
    # The frame is ~40 MB; the decoded text and two StringIO copies of it (four bytes a character)
    # took the peak to ~300 MB.
    assert growth < 150 * 2**20, f"RSS grew by {growth / 2**20:.0f} MB"


def test_a_csv_of_empty_cells_is_judged_by_what_it_holds_once_read(client, monitor, ingest_key, settings):
    settings.MONITORING_MAX_DECOMPRESSED_BYTES = 1_000_000
    body = ",".join(f"c{i}" for i in range(100)).encode() + b"\n" + (b"," * 99 + b"\n") * 2_000  # 200 KB
    response = post(client, monitor, body, "text/csv", ingest_key)
    assert response.status_code == 413 and "once read" in response.json()["error"]["message"]


def test_a_csv_not_in_utf8_is_refused_with_the_offset_of_the_first_bad_byte(client, monitor, ingest_key):
    body = b"feature_a,segment\n" + b"1,north\n" * 200_000 + "2,caf\u00e9\n".encode("latin-1")
    response = post(client, monitor, body, "text/csv", ingest_key)
    assert response.status_code == 400 and response.json()["error"]["code"] == "not_utf8"
    assert f"offset {len(body) - 2}" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"feature_a,feat\x00ure_b\n1,2\n", "text/csv"),
        (("n" * 121 + ",feature_a\n1,2\n").encode(), "text/csv"),
        (json.dumps([{"n" * 121: 1}]).encode(), "application/json"),
        (b'[{"feature_\\u0000a": 1}]', "application/json"),
    ],
    ids=["csv-nul", "csv-long", "json-long", "json-nul"],
)
def test_a_column_name_with_nul_or_longer_than_feature_names_are_stored_is_refused(
    client, monitor, ingest_key, monitoring_storage, body, content_type
):
    response = post(client, monitor, body, content_type, ingest_key)
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_column_name"
    assert_nothing_stored(monitor, monitoring_storage)


# --- Reference uploads ---------------------------------------------------------------------------------


def _reference(client, user, monitor, body):
    client.force_login(user)
    return client.post(f"/api/v1/monitors/{monitor.pk}/reference/", body, content_type="text/csv")


def _reference_files(storage_dir):
    return [p for p in storage_dir.rglob("references/**/*") if p.is_file()] if storage_dir.exists() else []


def test_a_reference_whose_statistics_overflow_gets_400_and_leaves_no_file(
    client, engineer, monitor, monitoring_storage
):
    from monitoring.models import ReferenceProfile

    files = _reference_files(monitoring_storage)
    body = b"feature_a,feature_b,segment\n" + b"1e308,-1e308,north\n1e307,1,south\n" * 20
    response = _reference(client, engineer, monitor, body)
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_reference"
    assert ReferenceProfile.objects.filter(monitor=monitor).count() == 1  # the fixture's, still current
    assert _reference_files(monitoring_storage) == files


def test_a_reference_longer_than_the_byte_limit_is_refused_not_cut_short(
    client, engineer, monitor, monitoring_storage, settings
):
    from monitoring.models import ReferenceProfile

    body = reference_frame(200).to_csv(index=False).encode()
    settings.MONITORING_MAX_BATCH_BYTES = len(body) - 100  # the API reads one byte past the limit
    response = _reference(client, engineer, monitor, body)
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    assert ReferenceProfile.objects.filter(monitor=monitor).count() == 1


@pytest.mark.parametrize(
    "body",
    [b"feature_a\n1,2,3,4,5\n", b"feature_a\n" + b"1," * 200_000 + b"1\n"],
    ids=["five-fields", "200000-fields"],
)
def test_a_first_row_wider_than_the_csv_header_is_refused_not_read_as_an_index(
    client, monitor, ingest_key, monitoring_storage, body
):
    import time

    started = time.perf_counter()
    response = post(client, monitor, body, "text/csv", ingest_key)
    assert response.status_code == 400 and "the header names 1" in response.json()["error"]["message"]
    assert time.perf_counter() - started < 5  # a million fields took minutes and 1.8 GB as an index
    assert_nothing_stored(monitor, monitoring_storage)


def test_parquet_bytes_that_are_not_utf8_are_refused_and_utf8_bytes_read_as_text(
    client, monitor, ingest_key, monitoring_storage
):
    def parquet(values):
        buffer = io.BytesIO()
        columns = {"feature_a": pa.array([1.0, 2.0], pa.float32()), "feature_b": pa.array([1.0, 2.0], pa.float32())}
        pq.write_table(pa.table({**columns, "segment": values}), buffer)
        return buffer.getvalue()

    # Stored, such a batch failed every drift job of its window (astype("string") on b"\xff").
    refused = post(
        client, monitor, parquet(pa.array([b"\xff\xfe", b"\x00"])), "application/vnd.apache.parquet", ingest_key
    )
    assert refused.status_code == 400 and "UTF8" in refused.json()["error"]["message"]
    assert_nothing_stored(monitor, monitoring_storage)
    accepted = post(
        client, monitor, parquet(pa.array([b"north", b"south"])), "application/vnd.apache.parquet", ingest_key
    )
    assert accepted.status_code == 201 and accepted.json()["schema_mismatch"] is None
