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


class MlflowUnavailable(Exception):
    """The MLflow server did not answer in time or answered 5xx: transient, worth a retry."""


class MlflowRejected(Exception):
    """MLflow answered a request with a 4xx other than "not found": our request is wrong, a retry
    would not help."""
