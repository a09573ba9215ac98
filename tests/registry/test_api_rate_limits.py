"""The API's rate limits (registry/throttling.py): per user, and per address for wrong tokens.

DRF authenticates before it throttles, so without the failure budget a token guesser would be
answered 401 forever; with it, the guessing address is paused while everyone else carries on."""

import pytest

from registry.services import api_token_rotate

pytestmark = pytest.mark.django_db

GUESSER = "10.6.6.6"
COLLEAGUE = "10.1.1.1"


def _me(client, token: str, address: str):
    return client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {token}", REMOTE_ADDR=address)


def test_wrong_tokens_pause_the_guessing_address_only(client, engineer, throttle_rates):
    throttle_rates(credential_failures="3/minute")
    good = api_token_rotate(user=engineer)

    guesses = [_me(client, f"mpa_guess{i}", GUESSER).status_code for i in range(3)]
    paused = _me(client, good, GUESSER)  # even a right token waits: the address is paused

    assert guesses == [401, 401, 401]
    assert paused.status_code == 429
    assert paused.json()["error"]["code"] == "throttled"
    assert "Too many wrong tokens" in paused.json()["error"]["message"]
    assert 0 < int(paused.headers["Retry-After"]) <= 60
    assert _me(client, good, COLLEAGUE).status_code == 200


def test_right_tokens_never_use_up_the_failure_budget(client, engineer, throttle_rates):
    throttle_rates(credential_failures="2/minute")
    good = api_token_rotate(user=engineer)
    assert {_me(client, good, COLLEAGUE).status_code for _ in range(6)} == {200}


def test_calls_without_a_token_are_not_counted_as_failures(client, engineer, throttle_rates):
    throttle_rates(credential_failures="1/minute")
    for _ in range(3):
        assert client.get("/api/v1/me/", REMOTE_ADDR=GUESSER).status_code == 401
    assert _me(client, api_token_rotate(user=engineer), GUESSER).status_code == 200


def test_each_user_has_a_budget_of_api_calls(client, engineer, reviewer, throttle_rates):
    throttle_rates(user="3/minute")
    mine, theirs = api_token_rotate(user=engineer), api_token_rotate(user=reviewer)

    answers = [_me(client, mine, COLLEAGUE).status_code for _ in range(4)]

    assert answers == [200, 200, 200, 429]
    assert _me(client, theirs, COLLEAGUE).status_code == 200


def test_an_empty_rate_switches_a_budget_off(client, engineer, throttle_rates):
    throttle_rates(user=None, credential_failures=None)
    good = api_token_rotate(user=engineer)
    assert {_me(client, "mpa_wrong", GUESSER).status_code for _ in range(30)} == {401}
    assert {_me(client, good, GUESSER).status_code for _ in range(30)} == {200}
