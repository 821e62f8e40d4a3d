"""The app `flask --app tests.e2e.work_app work` runs: exactly `flask --app app`'s
(chat.factory.create_app, settings from the environment), with issue 17's upload
settings given explicitly. TODO(issue 17 merge): the files-core branch adds
UPLOAD_MAX_BYTES, IMAGE_MAX_PIXELS and LINK_PREVIEWS to chat/config.py; from
then on the test runs `flask --app app work` and this module goes."""

from chat.factory import create_app

app = create_app(
    {"UPLOAD_MAX_BYTES": 25 * 1024 * 1024, "IMAGE_MAX_PIXELS": 50_000_000, "LINK_PREVIEWS": True}
)
