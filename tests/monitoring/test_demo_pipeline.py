"""The demo's stand-in pipeline (mlopsportal/demo/pipeline.py) answers a real retrain request the
way Kubeflow Pipelines does, so the monitor shows a real answer; `make run` serves it
(tests/test_make_run.py checks the tour's step end to end)."""

import json
import threading

import pytest
import requests

from mlopsportal.demo.monitoring import DEMO_TRIGGER
from mlopsportal.demo.pipeline import server
from monitoring.models import RetrainEvent, RetrainTrigger
from monitoring.services import retrain
from tests.conftest import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def pipeline(tmp_path):
    port = free_port()
    httpd = server(host="127.0.0.1", port=port, calls_file=tmp_path / "calls.jsonl")
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}/apis/v2beta1/runs", tmp_path / "calls.jsonl"
    httpd.shutdown()
    httpd.server_close()


def test_a_retrain_request_reaches_the_demo_pipeline_and_its_answer_is_kept(monitor, engineer, pipeline):
    url, calls_file = pipeline
    RetrainTrigger.objects.create(monitor=monitor, **(DEMO_TRIGGER | {"url": url}))

    event = retrain.retrain_request(monitor=monitor, run=None, reason=RetrainEvent.Reason.MANUAL, actor=engineer)
    sent = retrain.retrain_send(event_id=event.pk)

    assert sent.status == RetrainEvent.Status.SENT and sent.response_status == 200
    answer = json.loads(sent.response_body)
    assert answer["state"] == "PENDING" and len(answer["run_id"]) == 32
    call = json.loads(calls_file.read_text().splitlines()[-1])
    assert call["request"]["pipeline_version_reference"] == {
        "pipeline_id": "churn-retrain",
        "pipeline_version_id": "churn-retrain-v1",
    }
    assert call["request"]["runtime_config"]["parameters"]["model_name"] == monitor.model_name
    assert requests.get(url, timeout=5).json()["runs"] == [answer]


def test_the_demo_pipeline_refuses_a_body_that_is_not_json(pipeline):
    url, _ = pipeline
    assert requests.post(url, data=b"{not json", timeout=5).status_code == 400
