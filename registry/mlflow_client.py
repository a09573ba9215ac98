"""The portal's boundary to the MLflow tracking server: plain REST calls with short timeouts.

MLflow's own client retries for minutes by default, which would pin a Celery worker or a web
request; here every call has a timeout of seconds and at most a few quick retries, and a transient
failure becomes MlflowUnavailable, which callers (Celery tasks) retry with backoff.
"""

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlparse

import requests
from django.conf import settings

from registry.errors import MlflowRejected, MlflowUnavailable

API = "/api/2.0/mlflow"
# Largest pages an MLflow 3 server accepts: fewer pages means fewer offset shifts mid-read.
RUNS_PAGE = 50_000
EXPERIMENTS_PAGE = 50_000
MODELS_PAGE = 1_000
VERSIONS_PAGE = 10_000
HISTORY_PAGE = 25_000


@contextlib.contextmanager
def mlflow_process_state_kept() -> Iterator[None]:
    """Put MLflow's process-wide state back exactly as it was: the tracking and registry URIs and
    the active experiment (module globals), and every MLFLOW_* environment variable.

    MLflow's setters mirror what they set into os.environ so that child processes inherit it, and
    "restoring" with them cannot express "was never set": set_tracking_uri(get_tracking_uri())
    writes MLflow's default (a SQLite file in the current directory) into the environment, and
    every process started afterwards (`make run`'s web server, worker and beat) would then read
    that instead of the configured server."""
    from mlflow.tracking import fluent
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    saved_globals = (tracking_utils._tracking_uri, registry_utils._registry_uri, fluent._active_experiment_id)
    saved_environ = {key: value for key, value in os.environ.items() if key.startswith("MLFLOW_")}
    try:
        yield
    finally:
        # set_tracking_uri also resets the tracer provider that cached the URI; None unsets it.
        tracking_utils.set_tracking_uri(saved_globals[0])
        registry_utils._registry_uri = saved_globals[1]
        fluent._active_experiment_id = saved_globals[2]
        for key in [key for key in os.environ if key.startswith("MLFLOW_")]:
            if key not in saved_environ:
                del os.environ[key]
        os.environ.update(saved_environ)


@contextlib.contextmanager
def mlflow_fluent_at(tracking_uri: str) -> Iterator[None]:
    """Point MLflow's fluent API (log_model, registered_model_name=...) at one server, tracking
    and registry both, and leave MLflow's process-wide state as it was afterwards. Both URIs are
    set: a stray MLFLOW_REGISTRY_URI would register the model on another server than its run."""
    import mlflow

    with mlflow_process_state_kept():
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        yield


class MlflowRestClient:
    def __init__(
        self, tracking_uri: str | None = None, *, timeout: float | None = None, retries: int | None = None
    ) -> None:
        self.tracking_uri = (tracking_uri or settings.MLFLOW_TRACKING_URI).rstrip("/")
        self.timeout = timeout if timeout is not None else settings.MLFLOW_REQUEST_TIMEOUT
        self.retries = retries if retries is not None else settings.MLFLOW_REQUEST_RETRIES
        self.session = requests.Session()
        # MLflow's uvicorn server stalls ~40 ms on each request of a kept-alive connection;
        # a fresh connection per call is faster on loopback and in a LAN.
        self.session.headers["Connection"] = "close"
        if settings.MLFLOW_TRACKING_TOKEN:
            self.session.headers["Authorization"] = f"Bearer {settings.MLFLOW_TRACKING_TOKEN}"
        elif settings.MLFLOW_TRACKING_USERNAME:
            self.session.auth = (settings.MLFLOW_TRACKING_USERNAME, settings.MLFLOW_TRACKING_PASSWORD)
        self.session.verify = not settings.MLFLOW_TRACKING_INSECURE_TLS

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = f"{self.tracking_uri}{path}"
        attempt = 0
        while True:
            try:
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            except requests.RequestException as exc:
                failure = f"MLflow at {self.tracking_uri} did not answer {method} {path}: {exc}"
            else:
                if response.status_code < 500:
                    return response
                failure = f"MLflow at {self.tracking_uri} answered {response.status_code} to {method} {path}"
            if attempt >= self.retries:
                raise MlflowUnavailable(failure)
            attempt += 1
            time.sleep(0.2 * 2**attempt)

    def _json(self, method: str, path: str, *, missing_ok: bool = False, **kwargs: Any) -> dict[str, Any] | None:
        response = self._request(method, path, **kwargs)
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise MlflowRejected(f"MLflow refused {method} {path} ({response.status_code}): {message[:500]}")
        return response.json() if response.content else {}

    def ping(self) -> None:
        """Raise MlflowUnavailable unless the server answers its health endpoint."""
        response = self._request("GET", "/health")
        if response.status_code != 200:
            raise MlflowUnavailable(f"MLflow health check answered {response.status_code}")

    # --- tracking ---

    def experiments(self) -> Iterator[dict[str, Any]]:
        """Every experiment, deleted ones included."""
        token = None
        while True:
            body: dict[str, Any] = {"max_results": EXPERIMENTS_PAGE, "view_type": "ALL"}
            if token:
                body["page_token"] = token
            page = self._json("POST", f"{API}/experiments/search", json=body) or {}
            yield from page.get("experiments", [])
            token = page.get("next_page_token")
            if not token:
                return

    def runs(self, *, experiment_ids: list[str], filter_string: str = "") -> Iterator[dict[str, Any]]:
        """Runs of the experiments (active and deleted), newest first, all pages."""
        if not experiment_ids:
            return
        token = None
        while True:
            body: dict[str, Any] = {
                "experiment_ids": experiment_ids,
                "filter": filter_string,
                "max_results": RUNS_PAGE,
                "run_view_type": "ALL",
            }
            if token:
                body["page_token"] = token
            page = self._json("POST", f"{API}/runs/search", json=body) or {}
            yield from page.get("runs", [])
            token = page.get("next_page_token")
            if not token:
                return

    def run(self, run_id: str) -> dict[str, Any] | None:
        found = self._json("GET", f"{API}/runs/get", params={"run_id": run_id}, missing_ok=True)
        return found["run"] if found else None

    def metric_history(self, *, run_id: str, key: str) -> list[dict[str, Any]]:
        points: list[dict[str, Any]] = []
        token = None
        while True:
            params: dict[str, Any] = {"run_id": run_id, "metric_key": key, "max_results": HISTORY_PAGE}
            if token:
                params["page_token"] = token
            page = self._json("GET", f"{API}/metrics/get-history", params=params) or {}
            points.extend(page.get("metrics", []))
            token = page.get("next_page_token")
            if not token:
                return points

    # --- model registry ---

    def registered_models(self) -> Iterator[dict[str, Any]]:
        token = None
        while True:
            params: dict[str, Any] = {"max_results": MODELS_PAGE}
            if token:
                params["page_token"] = token
            page = self._json("GET", f"{API}/registered-models/search", params=params) or {}
            yield from page.get("registered_models", [])
            token = page.get("next_page_token")
            if not token:
                return

    def registered_model(self, name: str) -> dict[str, Any] | None:
        found = self._json("GET", f"{API}/registered-models/get", params={"name": name}, missing_ok=True)
        return found["registered_model"] if found else None

    def model_versions(self, *, name: str | None = None) -> Iterator[dict[str, Any]]:
        """Versions of one model, or of every model. Their aliases are unreliable on SQL stores:
        read aliases from the registered model."""
        token = None
        while True:
            params: dict[str, Any] = {"max_results": VERSIONS_PAGE}
            if name is not None:
                params["filter"] = "name = '{}'".format(name.replace("'", "\\'"))
            if token:
                params["page_token"] = token
            page = self._json("GET", f"{API}/model-versions/search", params=params) or {}
            yield from page.get("model_versions", [])
            token = page.get("next_page_token")
            if not token:
                return

    def model_version(self, *, name: str, version: int) -> dict[str, Any] | None:
        found = self._json(
            "GET", f"{API}/model-versions/get", params={"name": name, "version": str(version)}, missing_ok=True
        )
        return found["model_version"] if found else None

    def model_version_download_uri(self, *, name: str, version: int) -> str | None:
        found = self._json(
            "GET",
            f"{API}/model-versions/get-download-uri",
            params={"name": name, "version": str(version)},
            missing_ok=True,
        )
        return found.get("artifact_uri") if found else None

    def artifact_text(self, artifact_uri: str) -> str | None:
        """A small artifact's text, for URIs the tracking server proxies (mlflow-artifacts:) or
        local paths this process can read. None when the portal cannot reach that store."""
        parsed = urlparse(artifact_uri)
        if parsed.scheme == "mlflow-artifacts":
            path = quote(parsed.path.lstrip("/"))
            response = self._request("GET", f"/api/2.0/mlflow-artifacts/artifacts/{path}")
            if response.status_code == 404:
                return None
            if response.status_code >= 400:
                raise MlflowRejected(f"MLflow refused the artifact {artifact_uri} ({response.status_code})")
            return response.text
        if parsed.scheme in ("", "file"):
            try:
                with open(parsed.path, encoding="utf-8") as handle:
                    return handle.read()
            except OSError:
                return None
        return None  # s3:, gs:, ...: the portal holds no credentials for the artifact store

    # --- aliases (the promotion gate writes these) ---

    def alias_version(self, *, name: str, alias: str) -> int | None:
        """The version the alias points at now, or None when the alias (or the model) does not exist."""
        response = self._request("GET", f"{API}/registered-models/alias", params={"name": name, "alias": alias})
        if response.status_code in (400, 404):
            # MLflow answers a missing alias with 400 INVALID_PARAMETER_VALUE "... not found", a
            # missing model with 404 RESOURCE_DOES_NOT_EXIST.
            try:
                error = response.json()
            except ValueError:
                error = {}
            if response.status_code == 404 or "not found" in str(error.get("message", "")).lower():
                return None
            raise MlflowRejected(f"MLflow refused to read @{alias} of {name}: {error or response.text[:500]}")
        if response.status_code >= 400:
            raise MlflowRejected(f"MLflow refused to read @{alias} of {name} ({response.status_code})")
        return int(response.json()["model_version"]["version"])

    def alias_set(self, *, name: str, alias: str, version: int) -> None:
        self._json(
            "POST", f"{API}/registered-models/alias", json={"name": name, "alias": alias, "version": str(version)}
        )
