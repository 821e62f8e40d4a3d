"""The stock bot's parts: symbols, stooq CSV, prices, and fetching from a real local HTTP server."""

import socket
from decimal import Decimal

import pytest

from chat.bots import BadArgument, Failed, Transient, fetch, stock

from .quotes import HEADER

CONFIG = {"STOCK_QUOTE_TIMEOUT": 1.0, "BOT_VISIBILITY_TIMEOUT": 60.0}


@pytest.fixture
def config(quotes):
    return {**CONFIG, "STOCK_QUOTE_URL": quotes.template}


@pytest.mark.parametrize(
    ("typed", "symbol"),
    [
        ("AAPL", "AAPL.US"),
        ("aapl", "AAPL.US"),
        (" aapl.us ", "AAPL.US"),
        ("vod.uk", "VOD.UK"),
        ("BRK-B", "BRK-B.US"),
        ("^spx", "^SPX"),
    ],
)
def test_symbols_are_normalised(typed, symbol):
    assert stock.parse_symbol(typed) == symbol


@pytest.mark.parametrize(
    "typed", ["", "   ", "AAPL MSFT", "aapl&s=x", "../etc", "a" * 21, "$AAPL", "^", "ä"]
)
def test_bad_symbols_are_refused(typed):
    with pytest.raises(BadArgument):
        stock.parse_symbol(typed)


def test_the_url_template_gets_the_lower_case_symbol():
    template = "https://stooq.com/q/l/?s={symbol}&f=sd2t2ohlcv&h&e=csv"
    assert stock.quote_url(template, "AAPL.US") == (
        "https://stooq.com/q/l/?s=aapl.us&f=sd2t2ohlcv&h&e=csv"
    )
    assert stock.quote_url(template, "^SPX").startswith("https://stooq.com/q/l/?s=%5Espx&")


def csv(*fields: str, header: bool = True) -> bytes:
    return ((HEADER if header else "") + ",".join(fields) + "\r\n").encode()


GOOD = ("AAPL.US", "2026-11-24", "22:00:09", "92.1", "94", "91.85", "93.42", "51234012")


@pytest.mark.parametrize(
    ("body", "price"),
    [
        (csv(*GOOD), Decimal("93.42")),
        (csv(*GOOD, header=False), Decimal("93.42")),  # without &h: stooq's column order
        (b"\xef\xbb\xbf" + csv(*GOOD), Decimal("93.42")),  # a byte-order mark
        (csv(*GOOD).replace(b"AAPL.US", b"aapl.us"), Decimal("93.42")),
    ],
)
def test_a_quote_is_read(body, price):
    assert stock.read_quote(body, "AAPL.US") == stock.Quote(price, "2026-11-24", "22:00")


def test_n_d_means_an_unknown_symbol():
    with pytest.raises(stock.UnknownSymbol):
        stock.read_quote(csv("NOPE.US", *["N/D"] * 7), "NOPE.US")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html><body>Exceeded the daily hits limit</body></html>",
        csv("AAPL.US", "2026-11-24"),  # too few fields
        csv(*GOOD) + csv(*GOOD, header=False),  # two quotes
        csv(*GOOD).replace(b"93.42", b"lots"),
        csv(*GOOD).replace(b"93.42", b"NaN"),
        csv(*GOOD).replace(b"93.42", b"-1"),
        csv(*GOOD).replace(b"AAPL.US", b"MSFT.US"),  # a quote for another symbol
        b"\xff\xfe not utf-8",
        b"Symbol,Date\r\nAAPL.US,2026-11-24\r\n",  # no Close column
    ],
)
def test_anything_else_is_malformed(body):
    with pytest.raises(stock.Malformed):
        stock.read_quote(body, "AAPL.US")


@pytest.mark.parametrize(
    ("price", "shown"),
    [("93.42", "93.42"), ("93.4", "93.40"), ("93", "93.00"), ("189.8400", "189.84"),
     ("0.0042", "0.0042"), ("1E+3", "1000.00")],
)  # fmt: skip
def test_prices_show_cents(price, shown):
    assert stock.format_price(Decimal(price)) == shown


def test_a_quote_says_when_it_is_from_and_odd_stamps_are_left_out():
    quote = stock.read_quote(csv(*GOOD[:1], "N/D", "<b>", *GOOD[3:]), "AAPL.US")
    assert (quote.date, quote.time) == ("", "")


@pytest.mark.parametrize(
    ("symbol", "price", "shown"),
    [
        ("AAPL.US", "93.42", "$93.42 per share"),
        ("^SPX", "5000", "5000.00 points"),
        ("VOD.UK", "72.1", "72.10 per share, in the market's currency"),
    ],
)
def test_prices_say_what_they_are_in(symbol, price, shown):
    assert stock.price_text(symbol, Decimal(price)) == shown


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://stooq.com/q/l/?s={symbol}&f=sd2t2ohlcv&h&e=csv", "stooq"),
        ("https://www.stooq.pl/q/l/?s={symbol}", "stooq"),
        ("http://127.0.0.1:8123/q?s={symbol}", ""),
        ("http://[::1]:8123/q?s={symbol}", ""),
        ("http://localhost/q?s={symbol}", ""),
    ],
)
def test_the_source_is_named_for_people(url, name):
    assert stock.source_name(url) == name


@pytest.mark.parametrize(
    ("symbol", "answer"),
    [
        ("AAPL.US", "$93.42 per share (2026-11-24 22:00)"),
        ("MSFT.US", "$412.50 per share (2026-11-24 22:00)"),
        (
            "NOPE.US",
            "the quote service does not know that symbol (symbols look like AAPL, or VOD.UK).",
        ),
    ],
)
def test_answers_from_the_service(quotes, config, symbol, answer):
    assert stock.answer(symbol, config) == answer
    assert quotes.requests == [symbol.lower()]


def closed_port() -> int:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Every way the quote service can fail: what the room is told (a clause for people),
# whether it is worth retrying, and a piece of the detail that goes to the log.
FAILURES = [
    ("BOOM.US", Transient, "the quote service is having trouble", "HTTP 500"),
    ("BUSY.US", Transient, "the quote service is busy", "HTTP 429"),
    ("SLOW.US", Transient, "the quote service did not answer in time", "no answer within"),
    ("CUT.US", Transient, "the quote service broke off its answer", "bytes short"),
    ("GONE.US", Failed, "the quote service turned the request down", "HTTP 404"),
    ("AWAY.US", Failed, "the quote service sent the bot somewhere it does not go", "ftp://"),
    ("JUNK.US", Failed, "the quote service sent something that is not a quote", "Exceeded"),
    ("EMPTY.US", Failed, "the quote service sent something that is not a quote", "not one quote"),
    ("BIG.US", Failed, "the quote service sent far more than an answer", "more than 65536 bytes"),
    ("refused", Transient, "the quote service could not be reached", "Connection refused"),
    ("no-dns", Transient, "the quote service could not be reached", "Name or service not known"),
]


def failing_config(quotes, case: str) -> dict:
    """The config whose quote URL fails in the way `case` names."""
    template = {
        "refused": f"http://127.0.0.1:{closed_port()}/q/l/?s={{symbol}}",
        "no-dns": "http://nonexistent.invalid/q/l/?s={symbol}",
    }.get(case, quotes.template)
    quotes.prices["big.us"] = "1" * (fetch.MAX_BYTES + 1)
    return {**CONFIG, "STOCK_QUOTE_URL": template}


@pytest.mark.parametrize(
    ("case", "kind", "reason", "detail"), FAILURES, ids=[f[0] for f in FAILURES]
)
def test_every_failure_is_worded_for_people_with_the_details_for_the_log(
    quotes, case, kind, reason, detail
):
    symbol = case if case.endswith(".US") else "AAPL.US"
    with pytest.raises(kind) as raised:
        stock.answer(symbol, failing_config(quotes, case))
    assert raised.value.reason == reason
    assert detail in raised.value.detail
    for technical in ("Errno", "Exception", "Error", "http://", "ftp://", "Traceback", "HTTP"):
        assert technical not in raised.value.reason


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("STOCK_QUOTE_URL", "https://stooq.com/q/l/?s=aapl", "must contain {symbol}"),
        ("STOCK_QUOTE_URL", "file:///etc/passwd?{symbol}", "http(s) URL"),
        ("BOT_VISIBILITY_TIMEOUT", 1.0, "longer than STOCK_QUOTE_TIMEOUT"),
    ],
)
def test_settings_that_cannot_work_stop_the_bot_at_its_start(setting, value, message):
    config = {**CONFIG, "STOCK_QUOTE_URL": "https://stooq.com/q/l/?s={symbol}", setting: value}
    with pytest.raises(SystemExit, match=message.replace("(", r"\(").replace(")", r"\)")):
        stock.check(config)
