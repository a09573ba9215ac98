"""A stand-in training pipeline for the demo: `make run` serves it on loopback, so the tour's
"Trigger retraining" reaches a real endpoint and the monitor shows the real answer.

It answers as Kubeflow Pipelines' v2 REST API does for POST /apis/v2beta1/runs (a run in state
PENDING with its id) and keeps each call, newest last, in a JSON-lines file; GET lists them. It
trains nothing: a team points the trigger at its own pipeline instead."""

import json
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MAX_BODY = 1024 * 1024


def run_created(request: dict[str, Any]) -> dict[str, Any]:
    """What KFP answers to a run it accepted: the request's names, a fresh run id, PENDING."""
    return {
        "run_id": uuid.uuid4().hex,
        "display_name": request.get("display_name", "retrain"),
        "pipeline_version_reference": request.get("pipeline_version_reference", {}),
        "runtime_config": request.get("runtime_config", {}),
        "state": "PENDING",
        "created_at": datetime.now(UTC).isoformat(),
    }


def server(*, host: str, port: int, calls_file: Path) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._answer(413, {"error": "body too large"})
                return
            try:
                request = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._answer(400, {"error": "the body is not JSON"})
                return
            answer = run_created(request if isinstance(request, dict) else {})
            with calls_file.open("a") as calls:
                calls.write(json.dumps({"path": self.path, "request": request, "answer": answer}) + "\n")
            self._answer(200, answer)

        def do_GET(self) -> None:
            lines = calls_file.read_text().splitlines() if calls_file.exists() else []
            self._answer(200, {"runs": [json.loads(line)["answer"] for line in lines]})

        def log_message(self, format: str, *args: Any) -> None:
            print(f"pipeline: {self.command} {self.path} {args[1] if len(args) > 1 else ''}", flush=True)

    return ThreadingHTTPServer((host, port), Handler)
