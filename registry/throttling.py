"""API rate limits, built on DRF's throttles.

Three budgets, each a scope in `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]` (None switches one off):
- "user": API calls per signed-in user or token owner;
- "ingest": batches per client address and monitor on the token-authenticated ingest endpoint;
- "credential_failures": wrong API or ingest tokens per client address. DRF authenticates before it
  throttles, so a guesser would only ever see 401s; this budget makes guessing stop paying.

Rates are read when a request arrives, not when the module is imported, so a deployment's (or a
test's) settings always apply. Counts live in Django's cache: `PORTAL_CACHE_URL`, shared by every
web worker.
"""

from collections.abc import Callable
from typing import Any, TypeVar

from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle

T = TypeVar("T")


class _RatesReadPerRequest:
    scope: str

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class UserApiThrottle(_RatesReadPerRequest, UserRateThrottle):
    scope = "user"


class IngestThrottle(_RatesReadPerRequest, SimpleRateThrottle):
    scope = "ingest"

    def get_cache_key(self, request: Request, view: Any) -> str:
        monitor = view.kwargs.get("monitor_id", "")
        return self.cache_format % {"scope": self.scope, "ident": f"{self.get_ident(request)}:{monitor}"}


class CredentialFailureThrottle(_RatesReadPerRequest, SimpleRateThrottle):
    """Counts failed token presentations per client address. Only failures are counted, so a
    pipeline with a good token is never slowed by someone else's guessing from another address."""

    scope = "credential_failures"

    def get_cache_key(self, request: Request, view: Any = None) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def _history_of(self, request: Request) -> list[float]:
        self.key = self.get_cache_key(request)
        self.now = self.timer()
        return [moment for moment in self.cache.get(self.key, []) if moment > self.now - self.duration]

    def ensure_not_blocked(self, request: Request) -> None:
        """Raise 429 (with Retry-After) while this address has used up its failures."""
        if self.rate is None:
            return
        self.history = self._history_of(request)
        if len(self.history) >= self.num_requests:
            raise Throttled(wait=self.wait(), detail="Too many wrong tokens from this address; try again later.")

    def record_failure(self, request: Request) -> None:
        if self.rate is None:
            return
        history = self._history_of(request)
        self.cache.set(self.key, [self.now, *history], self.duration)


def credential_checked(request: Request, check: Callable[[], T]) -> T:
    """Run `check()`, which raises a 401 error on a wrong token, under the address's failure
    budget: refused outright while the budget is spent, counted when it fails."""
    throttle = CredentialFailureThrottle()
    throttle.ensure_not_blocked(request)
    try:
        return check()
    except Exception as exc:
        if getattr(exc, "status_code", None) == 401:
            throttle.record_failure(request)
        raise
