"""API authentication by the portal's hashed tokens."""

from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from registry.models import ApiToken
from registry.throttling import credential_checked
from registry.tokens import secret_hash

# Recording each use would write on every API call; once a minute says as much.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class HashedTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`, looked up by the key's hash. DRF's own token model keeps keys
    in plain text, where anyone who reads the database or the admin could use them."""

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        words = get_authorization_header(request).split()
        if not words or words[0].lower() != self.keyword.lower().encode():
            return None  # not ours: the session may still authenticate the call
        return credential_checked(request, lambda: super(HashedTokenAuthentication, self).authenticate(request))

    def authenticate_credentials(self, key: str) -> tuple[Any, ApiToken]:
        token = ApiToken.objects.select_related("user").filter(key_hash=secret_hash(key)).first()
        if token is None:
            raise AuthenticationFailed("Invalid token: create a new one on your profile page.")
        if not token.user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token
