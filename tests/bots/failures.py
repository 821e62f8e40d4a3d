"""The stock bot's settings in tests, and every way the quote service can fail: the table
of failures (what the room is told, whether it is retried, what the job's row and the
log say) and the settings that make the local quote server fail each way. Shared by
test_stock.py (the fetch alone) and test_runner.py (the bot's loop).
"""

import socket

from chat.bots import Failed, Transient, fetch

from ..certificates import self_signed_certificate

CONFIG = {"STOCK_QUOTE_TIMEOUT": 1.0, "BOT_VISIBILITY_TIMEOUT": 60.0}


def closed_port() -> int:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


THE = "the quote service"
# Every way the quote service can fail: what the room is told (a clause for
# people), whether it is worth retrying, a piece of the detail that goes into the
# job's row, and a piece of the cause that goes to the log.
FAILURES = [
    ("BOOM.US", Transient, f"{THE} is having trouble", "HTTP 500",
     "HTTP 500 Internal Server Error"),
    ("BUSY.US", Transient, f"{THE} is busy", "HTTP 429", "HTTP 429 Too Many Requests"),
    ("SLOW.US", Transient, f"{THE} did not answer in time", "no answer within", "no answer within"),
    ("CUT.US", Transient, f"{THE} broke off its answer", "bytes short", "bytes short"),
    ("HANGUP.US", Transient, f"{THE} hung up without answering", "RemoteDisconnected",
     "RemoteDisconnected"),
    ("GONE.US", Failed, f"{THE} turned the request down", "HTTP 404", "HTTP 404 Not Found"),
    ("AWAY.US", Failed, f"{THE} sent the bot somewhere it does not go", "ftp://",
     "not http or https"),
    ("FILE.US", Failed, f"{THE} sent the bot somewhere it does not go", "file:///etc/passwd",
     "not http or https"),
    ("PORT.US", Failed, f"{THE} sent the bot somewhere it does not go", ":99999", "not a URL"),
    ("BRACKET.US", Failed, f"{THE} sent the bot somewhere it does not go", "[::1", "not a URL"),
    ("HOSTLESS.US", Failed, f"{THE} sent the bot somewhere it does not go", "https:///",
     "no host"),
    ("LOOP.US", Failed, f"{THE} sent the bot round in circles", "round in circles",
     "round in circles (the last HTTP 302 Found)"),
    ("MAZE.US", Failed, f"{THE} sent the bot round in circles", "round in circles",
     "round in circles"),
    ("NOWHERE.US", Failed, f"{THE} sent a redirect that leads nowhere", "HTTP 302",
     "HTTP 302 Found"),
    ("GARBLED.US", Failed, f"{THE} sent a garbled answer", "SSH-2.0", "BadStatusLine"),
    ("HEADERS.US", Failed, f"{THE} sent a garbled answer", "more than 100 headers",
     "HTTPException"),
    ("EARLY.US", Failed, f"{THE} sent a garbled answer", "HTTP 103", "HTTP 103 Early Hints"),
    ("JUNK.US", Failed, f"{THE} sent something that is not a quote", "Exceeded", "not one quote"),
    ("EMPTY.US", Failed, f"{THE} sent something that is not a quote", "not one quote",
     "not one quote (0 rows)"),
    ("HUGE.US", Failed, f"{THE} sent something that is not a quote", "'1e308'",
     "a close that is not a plausible price"),
    ("BIG.US", Failed, f"{THE} sent far more than an answer", "more than 65536 bytes",
     "more than 65536 bytes"),
    ("refused", Transient, f"{THE} could not be reached", "Connection refused",
     "ConnectionRefusedError: [Errno 111] Connection refused"),
    ("no-dns", Transient, f"{THE} could not be reached", "Name or service not known",
     "gaierror: [Errno -2] Name or service not known"),
    ("untrusted", Failed, f"{THE} could not be reached securely", "certificate verify failed",
     "SSLCertVerificationError: CERTIFICATE_VERIFY_FAILED"),
]  # fmt: skip


def failing_config(quotes, case: str, tmp_path) -> dict:
    """The config whose quote URL fails in the way `case` names."""
    quotes.prices["big.us"] = "1" * (fetch.MAX_BYTES + 1)
    quotes.prices["huge.us"] = "1e308"
    for symbol, location in {
        "file.us": "file:///etc/passwd",
        "port.us": "http://127.0.0.1:99999/q/l/?s=port.us",
        "bracket.us": "http://[::1/q/l/?s=bracket.us",
        "hostless.us": "https:///q/l/?s=hostless.us",  # no host (http: would join ours)
    }.items():
        quotes.answers[symbol] = (302, "", {"Location": location})
    quotes.raw.update(
        {
            "hangup.us": b"",
            "garbled.us": b"SSH-2.0-OpenSSH_9.2\r\n",
            "headers.us": b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 101 + b"\r\n",
            "early.us": b"HTTP/1.1 103 Early Hints\r\n\r\n",
        }
    )
    if case == "untrusted":  # HTTPS with a certificate nobody vouches for
        twin = quotes.twin(self_signed_certificate(tmp_path))
        return {**CONFIG, "STOCK_QUOTE_URL": twin.template}
    template = {
        "refused": f"http://127.0.0.1:{closed_port()}/q/l/?s={{symbol}}",
        "no-dns": "http://nonexistent.invalid/q/l/?s={symbol}",
    }.get(case, quotes.template)
    return {**CONFIG, "STOCK_QUOTE_URL": template}
