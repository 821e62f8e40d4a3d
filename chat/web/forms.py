"""HTML forms (Flask-WTF): validation, and a CSRF token on every one."""

from flask import abort
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from wtforms import BooleanField, PasswordField, StringField, SubmitField, TextAreaField
from wtforms.validators import EqualTo, InputRequired, Length, Regexp, ValidationError

from chat.domain import passwords
from chat.domain.errors import ChatError
from chat.domain.users import USERNAME_RE
from chat.domain.validate import (
    ROOM_NAME_RE,
    validate_display_name,
    validate_token_name,
    validate_webhook_name,
)

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


def domain_rule(validate):
    """A field validator applying one of chat/domain/validate.py's rules, so a
    form and the JSON API refuse the same input with the same words; the field
    keeps the value as the rule returns it (trimmed, NFC)."""

    def check(form: FlaskForm, field) -> None:
        try:
            field.data = validate(field.data)
        except ChatError as exc:
            raise ValidationError(exc.message) from None

    return check


class DisplayNameForm(FlaskForm):
    """The name shown for you (validate.validate_display_name), or Remove to go
    back to showing your username."""

    display_name = StringField(
        "Display name",
        validators=[domain_rule(validate_display_name)],
    )
    remove = SubmitField("Remove")


class PasswordChangeForm(FlaskForm):
    """Your current password, and the new one twice (the registration rules)."""

    current_password = PasswordField(
        "Current password",
        validators=[
            InputRequired(message="Enter your current password."),
            Length(max=passwords.MAX_LENGTH),
        ],
    )
    new_password = PasswordField(
        "New password",
        validators=[InputRequired(message="Enter a new password."), _password_length],
    )
    confirm_password = PasswordField(
        "Repeat the new password",
        validators=[
            InputRequired(message="Repeat the new password."),
            EqualTo("new_password", message="The new passwords differ."),
        ],
    )


class WebhookForm(FlaskForm):
    """A new incoming webhook: its name, shown as its bot's (validate.validate_webhook_name)."""

    # Its own id: the same page has the outgoing webhooks' form, with a `name` too.
    name = StringField(
        "Webhook name",
        id="webhook-name",
        validators=[domain_rule(validate_webhook_name)],
    )


class TokenForm(FlaskForm):
    """A new personal API token: what it is for (validate.validate_token_name)."""

    name = StringField(
        "Token name",
        validators=[domain_rule(validate_token_name)],
    )
