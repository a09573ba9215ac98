"""The portal's boundary to the MLflow tracking server: plain REST calls with short timeouts.

MLflow's own client retries for minutes by default, which would pin a Celery worker or a web
request; here every call has a timeout of seconds and a transient failure becomes
MlflowUnavailable, which callers (Celery tasks) retry with backoff.
"""

from typing import Any

import requests
from django.conf import settings

from .errors import MlflowUnavailable


class MlflowRestClient:
    def __init__(self, tracking_uri: str | None = None, *, timeout: float | None = None) -> None:
        self.tracking_uri = (tracking_uri or settings.MLFLOW_TRACKING_URI).rstrip("/")
        self.timeout = timeout if timeout is not None else settings.MLFLOW_REQUEST_TIMEOUT
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
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise MlflowUnavailable(f"MLflow at {self.tracking_uri} did not answer: {exc}") from exc
        if response.status_code >= 500:
            raise MlflowUnavailable(f"MLflow at {self.tracking_uri} answered {response.status_code} to {method} {path}")
        return response

    def ping(self) -> None:
        """Raise MlflowUnavailable unless the server answers its health endpoint."""
        response = self._request("GET", "/health")
        if response.status_code != 200:
            raise MlflowUnavailable(f"MLflow health check answered {response.status_code}")
