"""The `flask --app app ...` commands: migrate, accounts, one per bot, and `work`.

Each runs inside the app (its pool and settings); errors are answered with
click's one-line `Error: ...` and a non-zero exit, never a traceback.
"""

import sys

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from chat import actions
from chat.bots import BOTS, runner, work
from chat.bots.bot import Bot
from chat.domain import passwords
from chat.domain.entities import User
from chat.domain.errors import ChatError
from chat.domain.text import unstorable
from chat.domain.users import USERNAME_RE
from chat.domain.validate import validate_token_name
from chat.storage import migrate, queries
from chat.web import worker


def init_app(app: Flask) -> None:
    """Register every command on the app's CLI."""
    for command in (
        migrate_command,
        create_user_command,
        create_token_command,
        set_password_command,
        disable_user_command,
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
    """Run a worker: image thumbnails and link previews (work_jobs) until SIGTERM or Ctrl-C."""
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
