"""Secrets the portal hands out (API tokens, monitoring ingest tokens): made here, stored only as a
SHA-256 hash with a short prefix to recognise them by, and shown once, when they are made.

SHA-256 without a salt is enough here, unlike for passwords: the keys are 256 random bits, so there is
nothing to guess, and the hash must be looked up by value on every request."""

import hashlib
import secrets

API_TOKEN_PREFIX = "mpa_"  # marks a portal API token in logs and secret scanners
PREFIX_SHOWN = 12  # characters of a key kept in clear, to tell tokens apart in lists


def secret_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def secret_new(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)
