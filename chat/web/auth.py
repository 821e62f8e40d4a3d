"""Accounts: register, log in, log out, API tokens (the commands that create
them are in chat/cli.py)."""

import math
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from chat import actions
from chat.domain import passwords
from chat.domain.entities import User
from chat.domain.errors import ChatError
from chat.domain.users import clean_user_agent
from chat.storage import queries
from chat.web import requestlog, worker
from chat.web.forms import LoginForm, RegisterForm

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Log in to chat."


class Account(UserMixin):
    """The logged-in User as flask-login sees it (`current_user`).

    Logged in through the form, the session cookie holds a random session token
    (flask-login's "alternative id") rather than the user id: deleting the
    session's row revokes the cookie, and every copy of it, at once.
    """

    def __init__(
        self, user: User, session_token: str | None = None, token_hash: bytes | None = None
    ):
        self.entity = user  # what actions and sessions take
        self.id = user.id
        self.username = user.username
        self.session_token = session_token
        self.token_hash = token_hash  # the API token's, when authenticated by one

    def get_id(self) -> str | None:
        return self.session_token

    @property
    def session_hash(self) -> bytes | None:
        return actions.hash_token(self.session_token) if self.session_token else None


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    app.register_blueprint(bp)


@login_manager.user_loader
def load_user(session_token: str) -> Account | None:
    """The Account of a live session; None (logged out) once the session is revoked."""
    with worker.reading() as conn:  # one statement: one round trip
        user = actions.use_session(conn, actions.hash_token(session_token))
    if user is None:
        return None
    requestlog.note_user(user.username)
    return Account(user, session_token)


@login_manager.request_loader
def load_user_from_token(req) -> Account | None:
    """`Authorization: Bearer <token>` for scripts, bots and websocat."""
    scheme, _, token = req.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    token_hash = actions.hash_token(token.strip())
    with worker.reading() as conn:  # one statement: one round trip
        user = actions.use_token(conn, token_hash)
    if user is None:
        return None
    g.auth_by_token = True  # the API skips CSRF only for token-authenticated requests
    requestlog.note_user(user.username)
    return Account(user, token_hash=token_hash)


def safe_next(target: str | None) -> str:
    """`next` only to a path on this site; anything else goes to the rooms list.

    Browsers treat backslashes as slashes and drop tabs and newlines, so
    '/\\evil.com' and '/\\t/evil.com' leave the site too.
    """
    fallback = url_for("rooms.index")
    if not target or any(c in target for c in "\\\t\r\n") or not target.startswith("/"):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return fallback
    return target


@bp.route("/register", methods=["GET", "POST"])
def register():
    """Create an account and log in."""
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            with worker.connection() as conn:
                user = actions.create_user(conn, form.username.data, form.password.data)
                actions.join_first_room(conn, user)
        except ChatError as exc:
            form.username.errors.append(exc.message)
        else:
            log_in(user, remember=False)
            return redirect(safe_next(request.args.get("next")))
    return render_template("register.html", form=form), 400 if form.errors else 200


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in with username and password (throttled per account and per address)."""
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        status = _check_password(form)
        if status is None:
            return redirect(safe_next(request.args.get("next")))
    elif form.errors:
        status = 400
    headers = {"Retry-After": str(g.retry_after)} if status == 429 else {}
    return render_template("login.html", form=form), status, headers


def _check_password(form: LoginForm) -> int | None:
    """Log the user in, or say why not; None on success, else the status code."""
    try:
        user = check_password(form.username.data, form.password.data)
    except ChatError as exc:  # throttled
        g.retry_after = exc.retry_after
        form.form_errors.append(exc.message)
        return 429
    if user is not None:
        log_in(user, remember=form.remember.data)
        return None
    # One message for an unknown user and a wrong password: no account probing.
    form.form_errors.append("Wrong username or password.")
    return 400


def check_password(username: str, password: str) -> User | None:
    """The enabled user of that name if `password` is theirs, else None, under the
    login throttle every password check shares (the login form, and the settings
    page's current password): a failure counts against the account and the
    client's address, and while either is over its limit for the window
    (LOGIN_FAILURES_PER_USER, LOGIN_FAILURES_PER_ADDRESS), the password is not
    checked at all: ChatError('too_many_requests') with the seconds to wait."""
    config = current_app.config
    window = config["LOGIN_WINDOW_SECONDS"]
    # request.remote_addr is the peer, or what a configured proxy reported:
    # an X-Forwarded-For a client makes up itself does not change it.
    user_key = f"user:{username.lower()}"
    keys = [user_key, f"ip:{request.remote_addr}"]
    with worker.connection() as conn:
        failures = queries.login_failures(conn, keys, window)
        found = queries.credentials(conn, username)
    limits = {
        keys[0]: config["LOGIN_FAILURES_PER_USER"],
        keys[1]: config["LOGIN_FAILURES_PER_ADDRESS"],
    }
    blocked = [f for key, f in failures.items() if f["failures"] >= limits[key]]
    if blocked:
        # Until the last blocking window closes (it may close sooner for an
        # account whose owner logs in elsewhere, never later).
        retry_after = max(1, math.ceil(max(f["ends_in"] for f in blocked)))
        minutes = math.ceil(retry_after / 60)
        raise ChatError(
            "too_many_requests",
            f"Too many failed logins. Try again in {minutes} minute{'s' if minutes > 1 else ''}.",
            retry_after=retry_after,
        )
    user, password_hash = found if found else (None, None)
    if passwords.verify_password(password_hash, password):
        with worker.connection() as conn:
            actions.login_succeeded(conn, user_key)
        return user
    with worker.connection() as conn:
        actions.login_failed(conn, keys, window)
    return None


def log_in(user: User, remember: bool) -> None:
    """Start a login session for the User and set its cookie."""
    with worker.connection() as conn:
        token = actions.start_session(conn, user.id, user_agent())
    login_user(Account(user, token), remember=remember)


def user_agent() -> str | None:
    """This request's User-Agent as a session keeps it (users.clean_user_agent)."""
    return clean_user_agent(request.headers.get("User-Agent"))


@bp.route("/logout", methods=["POST"])
def logout():
    """Log out (POST only, CSRF-checked, so a link on another site cannot do it).

    The session is deleted on the server, so a copy of the cookie stops working
    too, and this session's open sockets are closed on every worker.
    """
    if current_user.is_authenticated and current_user.session_token:
        with worker.connection() as conn:
            actions.end_session(conn, current_user.session_token)
    logout_user()
    flash("You are logged out.")
    return redirect(url_for("auth.login"))
