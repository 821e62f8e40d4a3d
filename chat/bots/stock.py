"""The stock bot: `/stock=AAPL` answered with the share's price from a stooq-style CSV service.

The service (STOCK_QUOTE_URL, stooq.com's quote CSV by default) answers a
GET with one quote as CSV:

    Symbol,Date,Time,Open,High,Low,Close,Volume
    AAPL.US,2026-11-24,22:00:09,92.10,94.00,91.85,93.42,51234012

and with `N/D` in every field for a symbol it does not know. The room reads
"eren asked for AAPL.US: $93.42 per share (stooq, 2026-11-24 22:00)".
"""

import csv
import io
import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import quote, urlsplit

from chat.bots import fetch
from chat.bots.bot import BadArgument, Bot, Failed

SERVICE = "the quote service"
# stooq's column order for f=sd2t2ohlcv, used when the answer has no header line.
COLUMNS = ("symbol", "date", "time", "open", "high", "low", "close", "volume")
# A share (AAPL, VOD.UK, BRK-B.US) or an index (^SPX): short, and nothing that
# needs quoting in a URL or escaping in a message.
_SYMBOL = re.compile(r"\^?[A-Za-z0-9][A-Za-z0-9._-]{0,19}\Z")
# Bare symbols are US shares, as on stooq (AAPL -> AAPL.US).
DEFAULT_MARKET = ".US"
# stooq's word for a field it has nothing for; N/D as the close means it does
# not know the symbol. Open, high, low and volume may be N/D (they are not shown).
NO_DATA = "N/D"
# A price as stooq writes one: digits, then a point and at most 8 decimals
# (crypto and penny shares go that far); at most 9 digits before it (the
# dearest share, Berkshire A, has 6). No sign, exponent, NaN or Infinity, all
# of which Decimal would take; 1e308 made the room read "ran into a problem".
_PRICE = re.compile(r"[0-9]{1,9}(\.[0-9]{1,8})?")
# Shares traded: a count (fractional for crypto), at most 15 digits.
_VOLUME = re.compile(r"[0-9]{1,15}(\.[0-9]{1,8})?")
# stooq's d2 and t2 fields: 2026-11-24 and 22:00:09 ([0-9], not \d: no other scripts' digits).
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = re.compile(r"[0-9]{2}:[0-9]{2}(:[0-9]{2})?")
# The oldest date a quote can carry: a share's last trade may be long ago, not
# before there were quotes to keep.
OLDEST = date(1900, 1, 1)


class Malformed(Exception):
    """The service answered, but not with a quote we can trust.

    `what` says what was wrong in our own words (safe for the log: "a close
    that is not a plausible price"); `value` is the field as sent, for the
    job's row only.
    """

    def __init__(self, what: str, value: str = ""):
        super().__init__(what)
        self.what = what
        self.value = value


class UnknownSymbol(Exception):
    """The service does not know the symbol (it sent N/D)."""


@dataclass(frozen=True)
class Quote:
    """One quote as the service gave it: the closing price and when it was taken."""

    price: Decimal
    # When the price was taken, as the service wrote it, checked to be a real
    # date and time ("" when the answer has no such column).
    date: str
    time: str


def parse_symbol(argument: str) -> str:
    """`aapl` -> `AAPL.US`, `vod.uk` -> `VOD.UK`; BadArgument for anything else."""
    symbol = argument.strip()
    if not symbol:
        raise BadArgument("say which share, like /stock=AAPL")
    if not _SYMBOL.match(symbol):
        raise BadArgument(
            f"{symbol[:40]!r} is not a stock symbol: letters, digits and dots, like AAPL or VOD.UK"
        )
    symbol = symbol.upper()
    if "." not in symbol and not symbol.startswith("^"):
        symbol += DEFAULT_MARKET
    return symbol


def quote_url(template: str, symbol: str) -> str:
    return template.replace("{symbol}", quote(symbol.lower(), safe="._-"))


def read_quote(body: bytes, symbol: str) -> Quote:
    """The closing price for symbol in a stooq CSV answer; Malformed or UnknownSymbol.

    Every field we know is checked before anything is shown: a price that is
    not a plausible one, an impossible date or time, a volume that is not a
    count make the whole answer Malformed (it is not a quote to trust, and
    showing only part of it would hide that).
    """
    quote_ = _the_row(body)
    if quote_["symbol"].upper() != symbol:
        raise Malformed("a quote for another symbol", quote_["symbol"])
    if quote_["close"] == NO_DATA:
        raise UnknownSymbol(symbol)
    price = _price("close", quote_["close"])
    for column, check in _CHECKS.items():
        if column in quote_:
            check(column, quote_[column])
    return Quote(price, quote_.get("date", ""), quote_.get("time", "")[:5])


def _the_row(body: bytes) -> dict[str, str]:
    """The answer's one quote, as {column: field}; Malformed if it has not exactly one."""
    try:
        rows = [row for row in csv.reader(io.StringIO(body.decode("utf-8-sig"))) if any(row)]
    except (UnicodeDecodeError, csv.Error):
        raise Malformed("not CSV text") from None
    header = COLUMNS
    if rows and rows[0][0].strip().lower() == "symbol":
        header = tuple(name.strip().lower() for name in rows[0])
        rows = rows[1:]
    if len(set(header)) != len(header):
        raise Malformed("a header that names a column twice")
    if len(rows) != 1 or len(rows[0]) != len(header) or not {"symbol", "close"} <= set(header):
        raise Malformed(f"not one quote ({len(rows)} rows)")
    return dict(zip(header, (field.strip() for field in rows[0]), strict=True))


def _price(column: str, field: str) -> Decimal:
    """A price as stooq writes one, and one a share or an index could have."""
    if not _PRICE.fullmatch(field) or Decimal(field) == 0:
        raise Malformed(f"a {column} that is not a plausible price", field)
    return Decimal(field)


def _price_or_none(column: str, field: str) -> None:
    if field != NO_DATA:
        _price(column, field)


def _volume(column: str, field: str) -> None:
    if field != NO_DATA and not _VOLUME.fullmatch(field):
        raise Malformed("a volume that is not a count", field)


def _date(column: str, field: str) -> None:
    """A real calendar date, not before OLDEST and not after tomorrow (a market
    east of here may be a day ahead)."""
    try:
        day = date.fromisoformat(field) if _DATE.fullmatch(field) else None
    except ValueError:
        day = None
    latest = datetime.now(UTC).date() + timedelta(days=1)
    if day is None or not OLDEST <= day <= latest:
        raise Malformed("a date that is not a plausible one", field)


def _time(column: str, field: str) -> None:
    """A time of day: 00:00 to 23:59:59, seconds optional."""
    try:
        ok = bool(_TIME.fullmatch(field)) and bool(time.fromisoformat(field))
    except ValueError:
        ok = False
    if not ok:
        raise Malformed("a time that is not a time of day", field)


# What every other column we know must hold (the close is read in
# read_quote); columns we do not know are not shown and not checked.
_CHECKS = {
    "date": _date,
    "time": _time,
    "open": _price_or_none,
    "high": _price_or_none,
    "low": _price_or_none,
    "volume": _volume,
}


def format_price(price: Decimal) -> str:
    """Cents at least (93.4 -> 93.40), more digits only when they matter (0.0042)."""
    price = price.normalize()
    if price.as_tuple().exponent >= -2:
        price = price.quantize(Decimal("0.01"))
    return f"{price:f}"


def price_text(symbol: str, price: Decimal) -> str:
    """US shares in dollars; an index in points; other markets in their own currency,
    which stooq's CSV does not name."""
    shown = format_price(price)
    if symbol.startswith("^"):
        return f"{shown} points"
    if symbol.endswith(DEFAULT_MARKET):
        return f"${shown} per share"
    return f"{shown} per share, in the market's currency"


def source_name(url: str) -> str:
    """The service's name for people: stooq.com -> "stooq"; "" for an address
    without a name (a test server on 127.0.0.1, localhost)."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
        return ""
    except ValueError:
        pass
    labels = [label for label in host.split(".") if label and label != "www"]
    return labels[-2] if len(labels) >= 2 else ""


def answer(symbol: str, config: dict) -> str:
    """The answer for the room: the price, and where and when it is from.

    Raises Transient (fetch: worth another try) or Failed (no quote can be had).
    """
    url = quote_url(config["STOCK_QUOTE_URL"], symbol)
    body = fetch.get(url, config["STOCK_QUOTE_TIMEOUT"], SERVICE)
    try:
        quote_ = read_quote(body, symbol)
    except UnknownSymbol:
        return f"{SERVICE} does not know that symbol (symbols look like AAPL, or VOD.UK)."
    except Malformed as exc:
        sent = f": {exc.value[:40]!r}" if exc.value else ""
        raise Failed(
            f"{SERVICE} sent something that is not a quote",
            f"GET {url}: {exc.what}{sent}; the answer began {body[:120]!r}",
            f"{fetch.host_of(url)}: {exc.what}",
        ) from None
    # A time of day says nothing without its day: shown only after a date.
    when = f"{quote_.date} {quote_.time}".strip() if quote_.date else ""
    where = ", ".join(part for part in (source_name(url), when) if part)
    text = price_text(symbol, quote_.price)
    return f"{text} ({where})" if where else text


def check(config: dict) -> None:
    """Settings that cannot work stop the bot at its start (never the chat)."""
    template = config["STOCK_QUOTE_URL"]
    if "{symbol}" not in template:
        raise SystemExit(f"STOCK_QUOTE_URL must contain {{symbol}}: {template!r}")
    fetch.check_url(quote_url(template, "AAPL.US"), "STOCK_QUOTE_URL")
    if config["BOT_VISIBILITY_TIMEOUT"] <= config["STOCK_QUOTE_TIMEOUT"]:
        # Or a live bot's job would be taken over while it is still asking.
        raise SystemExit("BOT_VISIBILITY_TIMEOUT must be longer than STOCK_QUOTE_TIMEOUT")


BOT = Bot(
    name="stock",
    command="stock",
    username="stockbot",
    usage="/stock=SYMBOL or /stock SYMBOL: the share's price, e.g. /stock=AAPL (US shares "
    "need no market; others do, e.g. /stock=VOD.UK)",
    parse=parse_symbol,
    answer=answer,
    check=check,
)
