"""Repeated failed sign-ins lock the account or the address (django-axes), on the login page
and the API's token endpoint alike, until the cool-off passes or an admin unlocks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.db.models import F
from django.test import Client
from rest_framework.throttling import ScopedRateThrottle

from lib import env
from portal.accounts.services import user_login_unlock
from portal.errors import ServiceError
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LIMIT = 5  # MLHUB_LOGIN_FAILURE_LIMIT's default
LOCKED = (
    "Too many failed sign-ins for this account or from this address. "
    "Try again in {wait}, or ask an administrator to unlock it."
)
WRONG_API = {"non_field_errors": ["Unable to log in with provided credentials."]}
# What configurable-http-proxy sends: the client's own header, then the address it saw.
CLIENT = "203.0.113.7"
OTHER_CLIENT = "198.51.100.2"


@pytest.fixture(autouse=True)
def _fresh_throttles(fresh_throttles):
    """Throttle counts of this file's requests start at none (tests/conftest.py)."""


def log_in(client, username, password, forwarded_for=CLIENT):
    return client.post(
        "/accounts/login/",
        {"username": username, "password": password},
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


def ask_token(api, username, password, forwarded_for=CLIENT):
    return api.post(
        "/api/v1/auth/token/",
        {"username": username, "password": password},
        format="json",
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


def assert_locked_page(response, retry_after: str, wait: str = "15 minutes"):
    assert response.status_code == 429
    assert response["Retry-After"] == retry_after
    assert "registration/locked_out.html" in [t.name for t in response.templates]
    assert LOCKED.format(wait=wait) in response.content.decode()


def assert_wrong_password_page(response):
    assert response.status_code == 200
    assert "Your username and password did not match." in response.content.decode()


def fail_until_locked(client, username="alice"):
    for _ in range(LIMIT - 1):
        assert_wrong_password_page(log_in(client, username, "wrong"))
    # The failure that reaches the limit is already answered with the lock.
    assert_locked_page(log_in(client, username, "wrong"), "900")


def age_attempts(seconds: int) -> None:
    """Move the recorded failures into the past, as if ``seconds`` had gone by."""
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(seconds=seconds))


# The login page


def test_the_limit_locks_the_account_even_for_the_right_password(client, alice):
    fail_until_locked(client)
    assert_locked_page(log_in(client, "alice", PASSWORD), "900")
    assert "_auth_user_id" not in client.session


def test_failures_under_other_cases_of_the_name_count_for_one_account(client, alice):
    # "ALICE" logs in as alice: spread over cases and addresses, the failures still add up.
    typed = ["Alice", "ALICE", "aLiCe", "Ａlice"]
    for number, name in enumerate(typed):
        assert_wrong_password_page(log_in(client, name, "wrong", f"203.0.113.{number + 10}"))
    assert_locked_page(log_in(client, "alice", "wrong", "203.0.113.99"), "900")
    assert_locked_page(log_in(client, "ALICE", PASSWORD, "203.0.113.98"), "900")


def test_a_name_longer_than_any_account_is_a_wrong_password_not_a_server_error(client, alice):
    # Folding can lengthen a name (ß → ss); axes keeps 255 characters, PostgreSQL no more.
    assert_wrong_password_page(log_in(client, "ß" * 200, "wrong"))
    assert len(AccessAttempt.objects.get(ip_address=CLIENT).username) == 255


def test_the_lock_ends_when_the_cool_off_has_passed(client, alice):
    fail_until_locked(client)
    age_attempts(600)
    assert_locked_page(log_in(client, "alice", PASSWORD), "300", wait="5 minutes")
    age_attempts(300)
    response = log_in(client, "alice", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/"


def test_tries_while_locked_do_not_move_the_end_of_the_lock(client, alice):
    fail_until_locked(client)
    age_attempts(890)
    assert_locked_page(log_in(client, "alice", "wrong"), "10", wait="a minute")
    age_attempts(10)
    assert log_in(client, "alice", PASSWORD).status_code == 302


def test_an_admins_account_locks_too_and_the_host_unlocks_it(client, carol):
    # Decided (docs/security.md): no exception for admins, whose password is the prize; the
    # one locked out unlocks from the host with axes' command, under the name's hub form.
    fail_until_locked(client, "carol")
    assert_locked_page(log_in(client, "carol", PASSWORD, OTHER_CLIENT), "900")
    call_command("axes_reset_username", "carol")
    assert log_in(client, "Carol", PASSWORD, OTHER_CLIENT).status_code == 302


def test_an_admins_unlock_ends_the_lock(client, alice, carol):
    fail_until_locked(client)
    assert user_login_unlock(user=alice, by=carol) == 1
    assert log_in(client, "alice", PASSWORD).status_code == 302


def test_only_admins_may_unlock(alice, bob):
    with pytest.raises(ServiceError, match="^Only administrators may unlock logins.$"):
        user_login_unlock(user=alice, by=bob)


def test_admins_unlock_people_in_the_admin_and_see_the_attempts(client, alice, carol):
    fail_until_locked(client)
    carol.is_superuser = True  # the admin's view permission on axes' models
    carol.save()
    admin = Client()
    admin.force_login(carol)
    response = admin.get("/admin/axes/accessattempt/")
    assert response.status_code == 200 and "alice" in response.content.decode()
    response = admin.post(
        "/admin/accounts/user/",
        {"action": "unlock_login", "_selected_action": [alice.pk]},
        follow=True,
    )
    assert [str(m) for m in response.context["messages"]] == [
        "Unlocked 1 people (1 failed sign-in records removed). "
        "Locked addresses are listed under Axes, Access attempts."
    ]
    assert log_in(client, "alice", PASSWORD).status_code == 302


def test_admins_unlock_an_address_by_deleting_its_attempts(client, alice, carol):
    for name in ["root", "admin", "test", "guest", "bob"]:
        log_in(client, name, "wrong")
    carol.is_superuser = True
    carol.save()
    admin = Client()
    admin.force_login(carol)
    attempts = list(AccessAttempt.objects.filter(ip_address=CLIENT).values_list("pk", flat=True))
    response = admin.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": attempts, "post": "yes"},
    )
    assert response.status_code == 302
    assert log_in(client, "alice", PASSWORD).status_code == 302


def test_failures_for_many_names_from_one_address_lock_the_address(client, alice):
    for name in ["root", "admin", "test", "guest"]:
        assert_wrong_password_page(log_in(client, name, "wrong"))
    assert_locked_page(log_in(client, "bob", "wrong"), "900")
    # alice never failed, but she asks from the locked address
    assert_locked_page(log_in(client, "alice", PASSWORD), "900")
    assert log_in(client, "alice", PASSWORD, forwarded_for=OTHER_CLIENT).status_code == 302


def test_a_forged_forwarded_for_does_not_escape_the_address_lock(client, alice):
    # Each try forges a new address in front of the one the proxy appends.
    for i, name in enumerate(["root", "admin", "test", "guest"]):
        assert_wrong_password_page(log_in(client, name, "wrong", f"10.9.{i}.1,{CLIENT}"))
    assert_locked_page(log_in(client, "bob", "wrong", f"192.0.2.1,{CLIENT}"), "900")
    assert_locked_page(log_in(client, "alice", PASSWORD, f"192.0.2.99,{CLIENT}"), "900")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {CLIENT}


def test_a_success_forgives_that_persons_own_failures(client, alice):
    for _ in range(LIMIT - 1):
        log_in(client, "alice", "wrong")
    assert log_in(client, "alice", PASSWORD).status_code == 302
    client.logout()
    for _ in range(LIMIT - 1):
        assert_wrong_password_page(log_in(client, "alice", "wrong"))


def test_a_success_does_not_forgive_others_failures_from_the_address(client, alice, bob):
    # Signing in to one's own account between guesses must not wipe the address's count.
    for _ in range(LIMIT - 1):
        log_in(client, "bob", "wrong")
    assert log_in(client, "alice", PASSWORD).status_code == 302
    client.logout()
    assert_locked_page(log_in(client, "bob", "wrong"), "900")


# The API's token endpoint


def test_the_token_endpoint_locks_with_a_json_429(api, alice):
    for _ in range(LIMIT - 1):
        response = ask_token(api, "alice", "wrong")
        assert response.status_code == 400 and response.json() == WRONG_API
    for password in ["wrong", PASSWORD]:
        response = ask_token(api, "alice", password)
        assert response.status_code == 429
        assert response["Retry-After"] == "900"
        assert response.json() == {"detail": LOCKED.format(wait="15 minutes"), "code": "locked_out"}


def test_the_token_endpoint_works_again_after_the_cool_off(api, alice):
    for _ in range(LIMIT):
        ask_token(api, "alice", "wrong")
    age_attempts(900)
    response = ask_token(api, "alice", PASSWORD)
    assert response.status_code == 200 and set(response.json()) == {"token"}


def test_the_token_endpoint_works_again_after_an_admins_unlock(api, alice, carol):
    for _ in range(LIMIT):
        ask_token(api, "alice", "wrong")
    assert ask_token(api, "alice", PASSWORD).status_code == 429
    user_login_unlock(user=alice, by=carol)
    assert ask_token(api, "alice", PASSWORD).status_code == 200


def test_the_login_page_and_the_api_share_one_lock(client, api, alice):
    fail_until_locked(client)
    response = ask_token(api, "alice", PASSWORD, forwarded_for=OTHER_CLIENT)
    assert response.status_code == 429
    assert response.json() == {"detail": LOCKED.format(wait="15 minutes"), "code": "locked_out"}


def test_the_token_endpoint_locks_an_address_despite_forged_headers(api, alice):
    for i, name in enumerate(["root", "admin", "test", "guest", "bob"]):
        ask_token(api, name, "wrong", f"10.9.{i}.1,{CLIENT}")
    response = ask_token(api, "alice", PASSWORD, f"192.0.2.99,{CLIENT}")
    assert response.status_code == 429 and response["Retry-After"] == "900"
    assert ask_token(api, "alice", PASSWORD, OTHER_CLIENT).status_code == 200


@pytest.mark.parametrize(
    ("failed_as", "logged_in_as"), [("alice", "alice"), ("ALICE", "Alice")], ids=["same", "case"]
)
def test_a_token_forgives_that_persons_own_failures(api, alice, failed_as, logged_in_as):
    # Under any case of the name: the failures and the login are one person's.
    for _ in range(LIMIT - 1):
        ask_token(api, failed_as, "wrong")
    assert ask_token(api, logged_in_as, PASSWORD).status_code == 200
    for _ in range(LIMIT - 1):
        assert ask_token(api, "alice", "wrong").status_code == 400


def test_too_many_token_requests_from_one_address_are_throttled(api, alice, monkeypatch):
    # DRF copies the rates into the throttle class when it is imported.
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "auth-token", "3/min")
    for _ in range(3):
        assert ask_token(api, "alice", PASSWORD).status_code == 200
    response = ask_token(api, "alice", PASSWORD, forwarded_for=f"192.0.2.1,{CLIENT}")
    assert response.status_code == 429
    assert response["Retry-After"] == "60"
    assert response.json() == {
        "detail": "Too many token requests from this address. Expected available in 60 seconds.",
        "code": "throttled",
    }
    assert ask_token(api, "alice", PASSWORD, forwarded_for=OTHER_CLIENT).status_code == 200


# Configuration


def test_a_malformed_token_rate_stops_the_start(monkeypatch):
    monkeypatch.setenv("MLHUB_TOKEN_RATE", "30 per minute")
    with pytest.raises(env.ConfigError) as error:
        env.env_rate("MLHUB_TOKEN_RATE", "30/min")
    assert str(error.value) == (
        "MLHUB_TOKEN_RATE='30 per minute' is not a rate like 30/min (s, min, hour or day)"
    )


def test_a_cool_off_of_zero_stops_the_start(monkeypatch):
    monkeypatch.setenv("MLHUB_LOGIN_COOLOFF_SECONDS", "0")
    with pytest.raises(env.ConfigError) as error:
        env.env_int_at_least("MLHUB_LOGIN_COOLOFF_SECONDS", 900, 1)
    assert str(error.value) == "MLHUB_LOGIN_COOLOFF_SECONDS=0 must be at least 1"
