"""Read-only SQL for operators: every account with its state, for the admin
commands (chat/cli.py's list-users, and the commands that name an account,
enabled or not)."""

from psycopg import Connection

from chat.domain.entities import AccountSummary

# Counted per account in subqueries: a team's accounts, read by a person.
SQL_ACCOUNTS = """
    SELECT u.id, u.username, u.display_name, u.created_at, u.disabled_at, u.is_admin,
           (SELECT count(*) FROM user_sessions s WHERE s.user_id = u.id) AS sessions,
           (SELECT count(*) FROM api_tokens t WHERE t.user_id = u.id) AS tokens
    FROM users u
    WHERE %(name)s::text IS NULL OR lower(u.username) = lower(%(name)s)
    ORDER BY lower(u.username)
"""


def accounts(conn: Connection) -> list[AccountSummary]:
    """Every account, enabled or disabled, by username."""
    return [AccountSummary.from_row(r) for r in conn.execute(SQL_ACCOUNTS, {"name": None})]


def account_by_name(conn: Connection, username: str) -> AccountSummary | None:
    """The account of that name (any case), enabled or disabled; None if there is none."""
    row = conn.execute(SQL_ACCOUNTS, {"name": username}).fetchone()
    return AccountSummary.from_row(row) if row else None
