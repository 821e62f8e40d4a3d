"""HTML forms (Flask-WTF): validation, and a CSRF token on every one."""

from flask import abort
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from wtforms import BooleanField, PasswordField, StringField, TextAreaField
from wtforms.validators import EqualTo, InputRequired, Length, Regexp

from chat.domain import passwords
from chat.domain.users import USERNAME_RE
from chat.domain.validate import ROOM_NAME_RE

csrf = CSRFProtect()


_password_length = Length(
    min=passwords.MIN_LENGTH,
    max=passwords.MAX_LENGTH,
    message=f"Passwords are {passwords.MIN_LENGTH} to {passwords.MAX_LENGTH} characters.",
)


class RegisterForm(FlaskForm):
    """A new account: a username (chat/domain/users.py's rule) and a password twice."""

    username = StringField(
        "Username",
        validators=[
            InputRequired(),
            Regexp(USERNAME_RE, message="1-32 letters, digits, '_', '.' or '-'."),
        ],
    )
    password = PasswordField("Password", validators=[InputRequired(), _password_length])
    confirm = PasswordField(
        "Repeat password",
        validators=[InputRequired(), EqualTo("password", message="The passwords differ.")],
    )


class LoginForm(FlaskForm):
    """Username and password; `remember` keeps the session across browser restarts."""

    username = StringField("Username", validators=[InputRequired(), Length(max=32)])
    password = PasswordField(
        "Password", validators=[InputRequired(), Length(max=passwords.MAX_LENGTH)]
    )
    remember = BooleanField("Keep me logged in")


class RoomForm(FlaskForm):
    """A new room: its name (lower-cased, never dm-...) and whether it is private."""

    name = StringField(
        "Room name",
        filters=[lambda v: v.strip().lower() if isinstance(v, str) else v],
        validators=[
            InputRequired(),
            Regexp(ROOM_NAME_RE, message="1-40 lowercase letters, digits, '_' or '-'."),
            Regexp(r"^(?!dm-)", message="Names starting with dm- are for direct messages."),
        ],
    )
    private = BooleanField("Private: only invited members can see it")


class ActionForm(FlaskForm):
    """A button that changes something and carries nothing but the CSRF token
    (join, leave)."""

    def validate_or_400(self) -> None:
        """Abort with 400 unless the CSRF token is good."""
        if not self.validate_on_submit():
            abort(400, description="the form expired: reload the page and try again")


class UsernameForm(FlaskForm):
    """Someone to invite to a private room, or to message directly."""

    username = StringField("Username", validators=[InputRequired(), Length(max=32)])


class MessageForm(FlaskForm):
    """The send form of the room page when JavaScript is off."""

    content = TextAreaField("Message", validators=[InputRequired()])
