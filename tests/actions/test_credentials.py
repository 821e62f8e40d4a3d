"""Looking up a credential (chat/actions/accounts.py use_token, use_session):
one statement that finds the owner and notes the use, writing the row only
when its note is stale, so the lookups a connect storm makes are reads."""

import pytest

from chat import actions
from chat.actions.accounts import SESSION_SEEN_EVERY, TOKEN_USED_EVERY

from ..conftest import make_user

# Each kind of credential: how it is made, looked up, and where its use is noted.
KINDS = {
    "api token": (
        lambda db, user: actions.create_token(db, user.id),
        actions.use_token,
        "api_tokens",
        "last_used_at",
        TOKEN_USED_EVERY,
    ),
    "login session": (
        lambda db, user: actions.start_session(db, user.id),
        actions.use_session,
        "user_sessions",
        "last_seen_at",
        SESSION_SEEN_EVERY,
    ),
}


def row_of(db, table: str, column: str, token_hash: bytes) -> dict:
    return db.execute(
        f"SELECT xmin::text AS version, {column} AS noted FROM {table} WHERE token_hash = %s",
        (token_hash,),
    ).fetchone()


@pytest.mark.parametrize("kind", KINDS)
def test_a_fresh_use_writes_nothing_and_a_stale_one_notes_it(db, kind):
    make, use, table, column, every = KINDS[kind]
    user = make_user(db)
    token_hash = actions.hash_token(make(db, user))
    assert use(db, token_hash).id == user.id  # the first use notes it (or made it)
    first = row_of(db, table, column, token_hash)
    assert first["noted"] is not None
    for _ in range(3):
        assert use(db, token_hash) == user
    assert row_of(db, table, column, token_hash) == first  # not a row version more

    db.execute(
        f"UPDATE {table} SET {column} = {column} - make_interval(secs => %s + 1)"
        " WHERE token_hash = %s",
        (every, token_hash),
    )
    assert use(db, token_hash).id == user.id
    assert row_of(db, table, column, token_hash)["noted"] >= first["noted"]


@pytest.mark.parametrize("kind", KINDS)
def test_an_unknown_or_disabled_credential_finds_no_one(db, kind):
    make, use, *_ = KINDS[kind]
    user = make_user(db)
    token_hash = actions.hash_token(make(db, user))
    assert use(db, actions.hash_token("never issued")) is None
    db.execute("UPDATE users SET disabled_at = now() WHERE id = %s", (user.id,))
    assert use(db, token_hash) is None
