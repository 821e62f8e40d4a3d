"""The `flask --app app ...` commands: migrate, accounts, an operator's account
administration (list users, their tokens and sessions, revoke them, promote to
administrator), one per bot, and `work`.

Each runs inside the app (its pool and settings); errors are answered with
click's one-line `Error: ...` and a non-zero exit, never a traceback.
"""

import sys
from datetime import UTC

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from chat import actions
from chat.bots import BOTS, runner, work
from chat.bots.bot import Bot
from chat.domain import passwords
from chat.domain.entities import AccountSummary, User
from chat.domain.errors import ChatError
from chat.domain.text import unstorable
from chat.domain.users import USERNAME_RE, device_label
from chat.domain.validate import validate_token_name
from chat.storage import accounts, migrate, queries
from chat.web import worker


def init_app(app: Flask) -> None:
    """Register every command on the app's CLI."""
    for command in (
        migrate_command,
        create_user_command,
        create_token_command,
        set_password_command,
        disable_user_command,
        list_users_command,
        list_tokens_command,
        revoke_token_command,
        list_sessions_command,
        revoke_session_command,
        promote_command,
        demote_command,
        *(_bot_command(bot) for bot in BOTS),
        work_command,
    ):
        app.cli.add_command(command)


@click.command("migrate")
@with_appcontext
def migrate_command() -> None:
    """Apply pending schema migrations."""
    applied = migrate.migrate(current_app.config["DATABASE_URL"])
    click.echo(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")


def _bot_command(bot: Bot) -> click.Command:
    @click.command(f"{bot.name}-bot")
    @with_appcontext
    def run() -> None:
        app = current_app._get_current_object()
        runner.run_bot(bot, app.config, worker.pool(), lambda: "schema_pending" in app.extensions)

    run.help = f"Run the {bot.name} bot: answer /{bot.command} requests until SIGTERM or Ctrl-C."
    return run


@click.command("work")
@with_appcontext
def work_command() -> None:
    """Run a worker: thumbnails, previews and webhooks (work_jobs) until SIGTERM or Ctrl-C."""
    app = current_app._get_current_object()
    work.run_worker(app.config, worker.pool(), lambda: "schema_pending" in app.extensions)


class StorableText(click.ParamType):
    """A command-line argument PostgreSQL can store (chat/domain/text.py): undecodable
    bytes in argv arrive as lone surrogates, and U+0000 can come from a script."""

    name = "text"

    def convert(self, value, param, ctx) -> str:
        if any("\udc80" <= char <= "\udcff" for char in value):
            # Python's surrogateescape: bytes in argv that are not UTF-8.
            self.fail("is not UTF-8 text", param, ctx)
        reason = unstorable(value)
        if reason is not None:
            self.fail(reason, param, ctx)
        return value


STORABLE = StorableText()


def _read_password() -> str:
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        try:
            password = sys.stdin.buffer.readline().decode().rstrip("\r\n")
        except UnicodeDecodeError:
            raise click.ClickException("the password must be UTF-8 text") from None
    if unstorable(password) is not None:
        raise click.ClickException("the password must not contain NUL characters")
    if not passwords.MIN_LENGTH <= len(password) <= passwords.MAX_LENGTH:
        raise click.ClickException(
            f"the password must be {passwords.MIN_LENGTH} to {passwords.MAX_LENGTH} characters"
        )
    return password


@click.command("create-user")
@click.argument("username", type=STORABLE)
@with_appcontext
def create_user_command(username: str) -> None:
    """Create an account (a member of #general, as one who registers); the
    password is read from standard input."""
    if not USERNAME_RE.match(username):
        raise click.ClickException("usernames are 1-32 letters, digits, '_', '.' or '-'")
    password = _read_password()
    try:
        with worker.connection() as conn:
            with conn.transaction():
                user = actions.create_user(conn, username, password)
                actions.join_first_room(conn, user)
    except ChatError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"created user {username}")


@click.command("create-token")
@click.argument("username", type=STORABLE)
@click.option("--name", type=STORABLE, help="What the token is for, as its owner sees it listed.")
@with_appcontext
def create_token_command(username: str, name: str | None) -> None:
    """Print a new API token for USERNAME (use as `Authorization: Bearer <token>`)."""
    try:
        name = None if name is None else validate_token_name(name)
        with worker.connection() as conn:
            token = actions.create_token(conn, _user_or_fail(conn, username).id, name)
    except ChatError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(token)


def _user_or_fail(conn, username: str) -> User:
    user = queries.user_by_name(conn, username)
    if user is None:
        raise click.ClickException(f"no user named {username!r}")
    return user


@click.command("set-password")
@click.argument("username", type=STORABLE)
@with_appcontext
def set_password_command(username: str) -> None:
    """Set USERNAME's password (read from stdin); their login sessions all end."""
    password = _read_password()
    with worker.connection() as conn:
        actions.set_password(conn, _user_or_fail(conn, username).id, password)
    click.echo(f"password changed for {username}; their sessions are logged out")


@click.command("disable-user")
@click.argument("username", type=STORABLE)
@with_appcontext
def disable_user_command(username: str) -> None:
    """Lock USERNAME out: sessions and API tokens stop working, open sockets close."""
    with worker.connection() as conn:
        actions.disable_user(conn, _user_or_fail(conn, username).id)
    click.echo(f"disabled {username}")


# --- an operator's account administration ----------------------------------------------


def _when(moment) -> str:
    """A time as the listings show it: to the minute, in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else "never"


def _account_or_fail(conn, username: str) -> AccountSummary:
    """The account of that name, enabled or disabled (an operator may look at both)."""
    account = accounts.account_by_name(conn, username)
    if account is None:
        raise click.ClickException(f"no user named {username!r}")
    return account


@click.command("list-users")
@click.option("--admins", is_flag=True, help="Only the administrators.")
@with_appcontext
def list_users_command(admins: bool) -> None:
    """List every account: name, created, state, admin, login sessions, API tokens."""
    with worker.connection() as conn:
        listed = [a for a in accounts.accounts(conn) if a.is_admin or not admins]
    click.echo(f"{'USER':<32} {'CREATED (UTC)':<16} {'STATE':<8} {'ADMIN':<5} SESSIONS TOKENS")
    for account in listed:
        state = "disabled" if account.disabled_at else "enabled"
        admin = "yes" if account.is_admin else "no"
        click.echo(
            f"{account.username:<32} {_when(account.created_at):<16} {state:<8} {admin:<5}"
            f" {account.sessions:>8} {account.tokens:>6}"
        )


@click.command("list-tokens")
@click.argument("username", type=STORABLE)
@with_appcontext
def list_tokens_command(username: str) -> None:
    """List USERNAME's API tokens (never the tokens themselves: only their ids and names)."""
    with worker.connection() as conn:
        tokens = queries.api_tokens(conn, _account_or_fail(conn, username).id)
    click.echo(f"{'ID':>8} {'CREATED (UTC)':<16} {'LAST USED (UTC)':<16} NAME")
    for token in tokens:
        click.echo(
            f"{token.id:>8} {_when(token.created_at):<16} {_when(token.last_used_at):<16}"
            f" {token.name or '-'}"
        )


@click.command("revoke-token")
@click.argument("username", type=STORABLE)
@click.argument("token_id", type=click.IntRange(min=1), required=False)
@click.option("--all", "every", is_flag=True, help="Revoke every token of USERNAME.")
@with_appcontext
def revoke_token_command(username: str, token_id: int | None, every: bool) -> None:
    """Revoke USERNAME's API token TOKEN_ID (from list-tokens), or --all of them:
    requests carrying it are refused and its sockets close at once."""
    if (token_id is None) == (not every):
        raise click.ClickException("give a TOKEN_ID (see list-tokens) or --all, not both")
    with worker.connection() as conn:
        user_id = _account_or_fail(conn, username).id
        if every:
            click.echo(f"revoked {actions.revoke_tokens(conn, user_id)} token(s) of {username}")
            return
        try:
            actions.revoke_token(conn, user_id, token_id)
        except ChatError:
            raise click.ClickException(f"{username} has no API token with id {token_id}") from None
    click.echo(f"revoked token {token_id} of {username}")


@click.command("list-sessions")
@click.argument("username", type=STORABLE)
@with_appcontext
def list_sessions_command(username: str) -> None:
    """List USERNAME's login sessions (browsers logged in), most recently used first."""
    with worker.connection() as conn:
        sessions = queries.login_sessions(conn, _account_or_fail(conn, username).id, None)
    click.echo(f"{'ID':>8} {'CREATED (UTC)':<16} {'LAST SEEN (UTC)':<16} DEVICE")
    for session in sessions:
        click.echo(
            f"{session.id:>8} {_when(session.created_at):<16} {_when(session.last_seen_at):<16}"
            f" {device_label(session.user_agent)}"
        )


@click.command("revoke-session")
@click.argument("username", type=STORABLE)
@click.argument("session_id", type=click.IntRange(min=1), required=False)
@click.option("--all", "every", is_flag=True, help="Log out every session of USERNAME.")
@with_appcontext
def revoke_session_command(username: str, session_id: int | None, every: bool) -> None:
    """Log out USERNAME's session SESSION_ID (from list-sessions), or --all of them:
    its cookie stops working and its sockets close at once."""
    if (session_id is None) == (not every):
        raise click.ClickException("give a SESSION_ID (see list-sessions) or --all, not both")
    with worker.connection() as conn:
        user_id = _account_or_fail(conn, username).id
        if every:
            ended = actions.end_sessions(conn, user_id)
            click.echo(f"logged out {ended} session(s) of {username}")
            return
        try:
            actions.end_other_session(conn, user_id, session_id, None)
        except ChatError:
            raise click.ClickException(f"{username} has no session with id {session_id}") from None
    click.echo(f"logged out session {session_id} of {username}")


def _set_admin(username: str, is_admin: bool) -> None:
    with worker.connection() as conn:
        account = _account_or_fail(conn, username)
        changed = actions.set_admin(conn, account.id, is_admin)
    role = "an administrator" if is_admin else "not an administrator"
    click.echo(f"{account.username} is {'now' if changed else 'already'} {role}")


@click.command("promote")
@click.argument("username", type=STORABLE)
@with_appcontext
def promote_command(username: str) -> None:
    """Make USERNAME an administrator (recorded for moderation to come; no
    page reads it yet)."""
    _set_admin(username, True)


@click.command("demote")
@click.argument("username", type=STORABLE)
@with_appcontext
def demote_command(username: str) -> None:
    """Make USERNAME an ordinary user again."""
    _set_admin(username, False)
