"""The stock bot's parts: symbols, stooq CSV, prices, and fetching from a real local HTTP server."""

import csv as csv_module
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from chat.bots import BadArgument, Failed, fetch, stock

from ..quotes import HEADER, QuoteServer
from .failures import CONFIG, FAILURES, failing_config


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
        csv(*GOOD).replace(b"AAPL.US", b"MSFT.US"),  # a quote for another symbol
        b"\xff\xfe not utf-8",
        b"Symbol,Date\r\nAAPL.US,2026-11-24\r\n",  # no Close column
        b"Symbol,Close,Close\r\nAAPL.US,93.42,1e308\r\n",  # a column twice
    ],
)
def test_anything_else_is_malformed(body):
    with pytest.raises(stock.Malformed):
        stock.read_quote(body, "AAPL.US")


def with_field(column: str, value: str) -> bytes:
    """GOOD with one field replaced, as the service would send it."""
    fields = list(GOOD)
    fields[stock.COLUMNS.index(column)] = value
    return csv(*fields)


TOMORROW = datetime.now(UTC).date() + timedelta(days=1)
# Values no quote can hold, by family: each makes the whole answer "not a quote".
IMPLAUSIBLE = {
    "huge": [("close", "1e308"), ("close", "1E+30"), ("close", "1" * 10), ("close", "9" * 400)],
    "tiny": [("close", "0"), ("close", "0.00"), ("close", "0.000000001"), ("close", "1e-308")],
    "negative": [("close", "-1"), ("close", "-0.01"), ("close", "-0"), ("close", "+93.42")],
    "nan": [("close", "NaN"), ("close", "nan"), ("close", "sNaN"), ("close", "-NaN")],
    "infinity": [("close", "Infinity"), ("close", "-Infinity"), ("close", "inf")],
    "exponent": [("close", "9.342E1"), ("close", "1e3"), ("close", "0e0")],
    "too-many-digits": [("close", "93.123456789"), ("close", "1234567890.5")],
    "not-a-number": [("close", "lots"), ("close", ""), ("close", "93.42.1"), ("close", "٩٣.٤٢")],
    "other-prices": [("open", "1e308"), ("high", "NaN"), ("low", "-1"), ("open", "")],
    "volume": [("volume", "-5"), ("volume", "1e308"), ("volume", "NaN"), ("volume", "lots"),
               ("volume", "1" * 16), ("volume", "")],
    "date": [("date", "1999-99-99"), ("date", "2026-02-30"), ("date", "2026-13-01"),
             ("date", "0000-01-01"), ("date", "1899-12-31"), ("date", "2999-01-01"),
             ("date", str(TOMORROW + timedelta(days=1))), ("date", "26-11-24"),
             ("date", "2026/11/24"), ("date", "20261124"), ("date", "N/D"), ("date", ""),
             ("date", "<b>")],
    "time": [("time", "25:61"), ("time", "24:00"), ("time", "22:60:00"), ("time", "22:00:60"),
             ("time", "2200"), ("time", "22:00:09.5"), ("time", "N/D"), ("time", ""),
             ("time", "<b>")],
}  # fmt: skip
IMPLAUSIBLE_CASES = [(family, *case) for family, cases in IMPLAUSIBLE.items() for case in cases]


@pytest.mark.parametrize(
    ("family", "column", "value"),
    IMPLAUSIBLE_CASES,
    ids=[f"{family}-{column}={value[:12]}" for family, column, value in IMPLAUSIBLE_CASES],
)
def test_a_value_no_quote_can_hold_makes_the_answer_not_a_quote(family, column, value):
    with pytest.raises(stock.Malformed) as raised:
        stock.read_quote(with_field(column, value), "AAPL.US")
    assert raised.value.value == value  # for the job's row
    assert column in raised.value.what  # for the log, in our own words only
    if value:
        assert value not in raised.value.what


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("close", "0.00000001"),
        ("close", "999999999.99999999"),
        ("close", "0093.42"),
        ("open", "N/D"),
        ("volume", "N/D"),
        ("volume", "0"),
        ("volume", "123.5"),
        ("date", "1900-01-01"),
        ("date", str(TOMORROW)),  # a market a day ahead of UTC
        ("time", "22:00"),
        ("time", "00:00:00"),
        ("time", "23:59:59"),
    ],
)
def test_values_a_quote_can_hold_are_read(column, value):
    stock.read_quote(with_field(column, value), "AAPL.US")


@pytest.mark.parametrize(
    ("price", "shown"),
    [("93.42", "93.42"), ("93.4", "93.40"), ("93", "93.00"), ("189.8400", "189.84"),
     ("0.0042", "0.0042"), ("1E+3", "1000.00")],
)  # fmt: skip
def test_prices_show_cents(price, shown):
    assert stock.format_price(Decimal(price)) == shown


@pytest.mark.parametrize(
    ("body", "date", "time"),
    [
        (b"Symbol,Close\r\nAAPL.US,93.42\r\n", "", ""),
        (b"Symbol,Date,Close\r\nAAPL.US,2026-11-24,93.42\r\n", "2026-11-24", ""),
        (b"Symbol,Name,Close\r\nAAPL.US,<b>Apple</b>,93.42\r\n", "", ""),  # not shown
    ],
)
def test_an_answer_without_a_date_or_time_column_is_shown_without_one(body, date, time):
    """Only a column the answer does not have is left out; one that is there
    and does not hold a real date or time makes it not a quote (above)."""
    assert stock.read_quote(body, "AAPL.US") == stock.Quote(Decimal("93.42"), date, time)


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


# --- any answer at all: a sentence for people, or "not a quote" ----------------------

PROPERTY_SYMBOL = "PROP.US"
NOT_A_QUOTE = "the quote service sent something that is not a quote"
# What the room may read after "eren asked for PROP.US: " when the service
# answered 200: a price with where and when, or that the symbol is unknown.
SENTENCE = re.compile(
    r"eren asked for PROP\.US: (?:"
    r"\$(?P<price>[0-9]{1,9}\.[0-9]{2,8}) per share"
    r"(?: \((?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})(?: (?P<time>[0-9]{2}:[0-9]{2}))?\))?"
    r"|the quote service does not know that symbol \(symbols look like AAPL, or VOD\.UK\)\.)"
)
# Fields as a quote service might send them: plausible ones, and odd ones
# (every family of implausible value above, numbers as Python and Decimal
# print them, stooq's N/D, any text at all).
PLAUSIBLE = {
    "symbol": st.sampled_from([PROPERTY_SYMBOL, PROPERTY_SYMBOL.lower()]),
    "date": st.dates(stock.OLDEST, TOMORROW).map(str),
    "time": st.times().map(lambda t: t.strftime("%H:%M:%S")),
    "price": st.builds(
        "{}.{}".format, st.integers(0, 999_999_999), st.from_regex(r"[0-9]{1,8}", fullmatch=True)
    ),
    "volume": st.integers(0, 10**15 - 1).map(str),
}
ANY_TEXT = st.text(max_size=30)
ODD_NUMBERS = st.one_of(
    st.sampled_from(["N/D", ""]),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats().map(repr),
    st.integers().map(str),
    ANY_TEXT,
)


def odd(column: str) -> st.SearchStrategy[str]:
    family = column if column in ("date", "time", "volume") else "close"
    listed = [value for _, c, value in IMPLAUSIBLE_CASES if c == family]
    if column == "symbol":
        listed = ["AAPL.US", "N/D", "", "PROP", "PROP.US.US"]
    return st.sampled_from(listed) | ODD_NUMBERS


def plausible(column: str) -> st.SearchStrategy[str]:
    return PLAUSIBLE.get(column, PLAUSIBLE["price"])


def no_data(column: str) -> st.SearchStrategy[str]:
    """stooq's answer for a symbol it does not know: N/D but for the symbol."""
    return plausible(column) if column == "symbol" else st.just("N/D")


@st.composite
def answers(draw) -> bytes:
    """A body the service could send: a CSV row of plausible fields (or stooq's
    N/D row for a symbol it does not know), a few of them odd, with or without
    the header, with a column missing; or any text."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(ANY_TEXT).encode()
    columns = list(stock.COLUMNS)
    if draw(st.booleans()):
        columns.remove(draw(st.sampled_from(["date", "time", "open", "volume"])))
    odd_ones = draw(st.sets(st.sampled_from(columns), max_size=3))
    usual = plausible if kind > 1 else no_data
    row = [draw(odd(c) if c in odd_ones else usual(c)) for c in columns]
    out = io.StringIO()
    writer = csv_module.writer(out)
    if draw(st.booleans()) or columns != list(stock.COLUMNS):
        writer.writerow([column.capitalize() for column in columns])
    writer.writerow(row)
    return out.getvalue().encode()


@pytest.fixture(scope="module")
def service():
    """One local quote server for all of a property's examples."""
    server = QuoteServer()
    yield server
    server.close()


@given(body=answers())
def test_any_answer_is_a_sentence_for_people_or_not_a_quote(service, body):
    """Whatever a 200 answer holds, the room reads who asked, for what, and either
    a price that is the answer's close (with its real date and time) or that the
    symbol is unknown; or the bot says it was not a quote. Nothing else escapes."""
    service.answers[PROPERTY_SYMBOL.lower()] = (200, body, {})
    config = {**CONFIG, "STOCK_QUOTE_URL": service.template}
    try:
        text = stock.answer(PROPERTY_SYMBOL, config)
    except Failed as exc:
        event("not a quote")  # `--hypothesis-show-statistics` shows how often each came up
        assert exc.reason == NOT_A_QUOTE
        assert PROPERTY_SYMBOL.lower() not in exc.cause.lower()
        return
    said = SENTENCE.fullmatch(stock.BOT.reply("eren", PROPERTY_SYMBOL, text))
    assert said, text
    event("a price" if said["price"] else "an unknown symbol")
    if said["price"]:  # the price shown is the one sent, with the stamp sent
        quote = stock.read_quote(body, PROPERTY_SYMBOL)
        assert Decimal(said["price"]) == quote.price
        assert (said["date"] or "") == quote.date
        assert (said["time"] or "") == (quote.time if quote.date else "")


# --- failures --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "kind", "reason", "detail", "cause"), FAILURES, ids=[f[0] for f in FAILURES]
)
def test_every_failure_is_worded_for_people_with_the_details_for_the_job_and_the_log(
    quotes, tmp_path, case, kind, reason, detail, cause
):
    symbol = case if case.endswith(".US") else "AAPL.US"
    config = failing_config(quotes, case, tmp_path)
    with pytest.raises(kind) as raised:
        stock.answer(symbol, config)
    failure = raised.value
    assert failure.reason == reason
    assert detail in failure.detail
    assert cause in failure.cause
    for technical in ("Errno", "Exception", "Error", "http://", "ftp://", "Traceback", "HTTP"):
        assert technical not in failure.reason
    # The log's words: the service's host, and nothing of the request's URL.
    assert failure.cause.startswith(fetch.host_of(config["STOCK_QUOTE_URL"]) + ": ")
    assert symbol.lower() not in failure.cause.lower() and "?" not in failure.cause


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
