"""chat/domain/users.py: the account rules that are plain text, the User-Agent a
session keeps and how it is named on the settings page."""

import pytest

from chat.domain.users import USER_AGENT_MAX, clean_user_agent, device_label

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


@pytest.mark.parametrize(
    "user_agent, label",
    [
        (CHROME_WINDOWS, "Chrome on Windows"),
        (CHROME_WINDOWS + " Edg/131.0.0.0", "Edge on Windows"),
        (CHROME_WINDOWS + " OPR/114.0.0.0", "Opera on Windows"),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
         "Firefox on Linux"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
         "Gecko) Version/18.1 Safari/605.1.15", "Safari on macOS"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
         "like Gecko) CriOS/131.0 Mobile/15E148 Safari/604.1", "Chrome on iOS"),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome on Android"),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "HeadlessChrome/131.0.0.0 Safari/537.36", "Headless Chrome on Linux"),
        ("curl/8.11.0", "curl"),
        ("python-requests/2.32.3", "Python requests"),
        ("Mozilla/5.0 (X11; Linux x86_64)", "A browser on Linux"),
        ("Werkzeug/3.1.3", "Unknown browser"),
        ("", "Unknown browser"),
        (None, "Unknown browser"),
    ],
)  # fmt: skip
def test_a_user_agent_is_named_by_browser_and_system(user_agent, label):
    assert device_label(user_agent) == label


@pytest.mark.parametrize(
    "raw, kept",
    [
        (None, None),
        ("", None),
        ("  \t ", None),
        ("curl/8.11.0", "curl/8.11.0"),
        ("evil\x00\x1b[2J\nagent", "evil[2Jagent"),  # a header anyone can write
        ("x" * 1000, "x" * USER_AGENT_MAX),
    ],
)
def test_a_session_keeps_a_printable_bounded_user_agent(raw, kept):
    assert clean_user_agent(raw) == kept
