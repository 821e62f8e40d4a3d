"""The stock bot's parts: symbols, stooq CSV, prices, and fetching from a real local HTTP server."""

import socket
from decimal import Decimal

import pytest

from chat.bots import BadArgument, Transient, fetch, stock

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
    assert stock.read_price(body, "AAPL.US") == price


def test_n_d_means_an_unknown_symbol():
    with pytest.raises(stock.UnknownSymbol):
        stock.read_price(csv("NOPE.US", *["N/D"] * 7), "NOPE.US")


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
        stock.read_price(body, "AAPL.US")


@pytest.mark.parametrize(
    ("price", "shown"),
    [("93.42", "93.42"), ("93.4", "93.40"), ("93", "93.00"), ("189.8400", "189.84"),
     ("0.0042", "0.0042"), ("1E+3", "1000.00")],
)  # fmt: skip
def test_prices_show_cents(price, shown):
    assert stock.format_price(Decimal(price)) == shown


@pytest.mark.parametrize(
    ("symbol", "answer"),
    [
        ("AAPL.US", "AAPL.US quote is $93.42 per share"),
        ("MSFT.US", "MSFT.US quote is $412.50 per share"),
        ("NOPE.US", "No quote for NOPE.US: the quote service does not know that symbol."),
        ("JUNK.US", "Could not read the quote for JUNK.US: the quote service sent something else."),
        ("GONE.US", "Could not get a quote for GONE.US: the quote service answered 404."),
    ],
)
def test_answers_from_the_service(quotes, config, symbol, answer):
    assert stock.answer(symbol, config) == answer
    assert quotes.requests == [symbol.lower()]


@pytest.mark.parametrize(
    ("symbol", "reason"),
    [
        ("BOOM.US", "the quote service answered 500"),
        ("SLOW.US", "the quote service did not answer within 1 s"),
    ],
)
def test_transient_failures_are_raised_for_a_retry(quotes, config, symbol, reason):
    with pytest.raises(Transient, match=reason):
        stock.answer(symbol, config)


def test_an_unreachable_service_is_transient():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = {**CONFIG, "STOCK_QUOTE_URL": f"http://127.0.0.1:{port}/q?s={{symbol}}"}
    with pytest.raises(Transient, match="could not reach the quote service"):
        stock.answer("AAPL.US", config)


def test_an_oversized_answer_is_refused(quotes):
    quotes.prices["big.us"] = "1" * (fetch.MAX_BYTES + 1)
    with pytest.raises(fetch.FetchFailed, match="more than 64 KiB"):
        fetch.get(stock.quote_url(quotes.template, "BIG.US"), 2.0)


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
