from registry.errors import PermissionDenied, PortalError

__all__ = ["AnswerInvalid", "PermissionDenied", "PortalError"]


class AnswerInvalid(PortalError):
    code = "invalid_answer"
