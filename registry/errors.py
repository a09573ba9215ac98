"""Domain errors. Services raise them; the API and the pages turn them into a 4xx with the message."""


class PortalError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class PermissionDenied(PortalError):
    status_code = 403
    code = "permission_denied"


class Conflict(PortalError):
    status_code = 409
    code = "conflict"


class Unavailable(PortalError):
    """Something the answer depends on (MLflow) did not answer: the client may try again."""

    status_code = 503
    code = "unavailable"


class DatabaseUnavailable(Unavailable):
    """The portal's own database dropped the connection or refused it (restarting, failing over).
    What the request was doing is rolled back with its transaction; a retry is the cure."""

    code = "database_unavailable"
    retry_after = 5

    def __init__(self) -> None:
        super().__init__(
            "The portal's database is unavailable for a moment (restarting?): this request was not "
            "completed and nothing of it was kept. Try again in a few seconds."
        )


def database_outage(exc: BaseException | None) -> bool:
    """Whether an exception says the database went away, rather than a bug in a query."""
    from django.db import InterfaceError, OperationalError

    # OperationalError also covers a lock timeout or a cancelled statement: busy, not a bug either.
    return isinstance(exc, OperationalError | InterfaceError)


class MlflowUnavailable(Exception):
    """The MLflow server did not answer in time or answered 5xx: transient, worth a retry."""


class MlflowRejected(Exception):
    """MLflow answered a request with a 4xx other than "not found": our request is wrong, a retry
    would not help."""
