"""Brute-force protection: failed logins are counted in PostgreSQL, per account and per
address, so every worker and host enforces the same limit."""

import re

from ..conftest import AuthActions, make_user

TOO_MANY = "Too many failed logins"


def attempt(client, username, password, **headers):
    login = AuthActions(client)
    client.environ_base.update(
        {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    )
    return login.login(username, password)


def test_an_account_locks_after_ten_failures_even_for_the_right_password(make_app, db):
    make_user(db, "eren", "correct horse")
    client = make_app().test_client()
    for _ in range(10):
        response = attempt(client, "eren", "wrong guess")
        assert response.status_code == 400
        assert "Wrong username or password." in response.text
    response = attempt(client, "eren", "correct horse")
    assert response.status_code == 429
    assert TOO_MANY in response.text
    # Another account from elsewhere is not affected.
    make_user(db, "levi", "correct horse")
    other = make_app().test_client()
    other.environ_base["REMOTE_ADDR"] = "10.9.9.9"
    assert attempt(other, "levi", "correct horse").status_code == 302


def test_the_limit_is_shared_by_every_worker(make_app, db):
    make_user(db, "eren", "correct horse")
    workers = [make_app().test_client() for _ in range(2)]
    for i in range(10):
        attempt(workers[i % 2], "eren", "wrong guess")
    assert attempt(workers[0], "eren", "correct horse").status_code == 429
    assert attempt(workers[1], "eren", "correct horse").status_code == 429


def test_one_address_across_many_accounts_is_throttled_and_forged_headers_do_not_help(make_app, db):
    client = make_app(LOGIN_FAILURES_PER_ADDRESS=5).test_client()
    for i in range(5):
        response = attempt(client, f"user{i}", "guess", x_forwarded_for=f"203.0.113.{i}")
        assert response.status_code == 400
    make_user(db, "eren", "correct horse")
    response = attempt(client, "eren", "correct horse", x_forwarded_for="198.51.100.7")
    assert response.status_code == 429


def test_unknown_user_and_wrong_password_look_the_same(make_app, db):
    make_user(db, "eren", "correct horse")
    client = make_app().test_client()
    wrong = attempt(client, "eren", "wrong guess")
    unknown = attempt(client, "nobody", "wrong guess")
    assert wrong.status_code == unknown.status_code == 400

    def page(response, name):  # CSRF tokens carry a timestamp: leave them out
        return re.sub(r'value="[^"]*"', "", response.text.replace(name, "X"))

    assert page(wrong, "eren") == page(unknown, "nobody")


def test_a_success_resets_the_account_count_and_the_window_expires(make_app, db):
    make_user(db, "eren", "correct horse")
    client = make_app().test_client()
    for _ in range(9):
        attempt(client, "eren", "wrong guess")
    assert attempt(client, "eren", "correct horse").status_code == 302
    fresh = make_app().test_client()  # logged out: another browser
    for _ in range(9):
        assert attempt(fresh, "eren", "wrong guess").status_code == 400
    db.execute("UPDATE login_failures SET window_start = now() - interval '1 hour'")
    assert attempt(fresh, "eren", "wrong guess").status_code == 400
    assert attempt(fresh, "eren", "correct horse").status_code == 302
