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
from decimal import Decimal, InvalidOperation
from urllib.parse import quote, urlsplit

from . import fetch
from .bot import BadArgument, Bot, Failed

SERVICE = "the quote service"
# stooq's column order for f=sd2t2ohlcv, used when the answer has no header line.
COLUMNS = ("symbol", "date", "time", "open", "high", "low", "close", "volume")
# A share (AAPL, VOD.UK, BRK-B.US) or an index (^SPX): short, and nothing that
# needs quoting in a URL or escaping in a message.
_SYMBOL = re.compile(r"\^?[A-Za-z0-9][A-Za-z0-9._-]{0,19}\Z")
# Bare symbols are US shares, as on stooq (AAPL -> AAPL.US).
DEFAULT_MARKET = ".US"


class Malformed(Exception):
    """The service answered, but not with a quote we can read."""


class UnknownSymbol(Exception):
    """The service does not know the symbol (it sent N/D)."""


@dataclass(frozen=True)
class Quote:
    price: Decimal
    # When the price was taken, as the service wrote it ("" when it did not say).
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
    """The closing price for symbol in a stooq CSV answer; Malformed or UnknownSymbol."""
    try:
        rows = [row for row in csv.reader(io.StringIO(body.decode("utf-8-sig"))) if any(row)]
    except (UnicodeDecodeError, csv.Error):
        raise Malformed("not CSV text") from None
    header = COLUMNS
    if rows and rows[0] and rows[0][0].strip().lower() == "symbol":
        header = tuple(name.strip().lower() for name in rows[0])
        rows = rows[1:]
    if len(rows) != 1 or len(rows[0]) != len(header) or not {"symbol", "close"} <= set(header):
        raise Malformed(f"not one quote ({len(rows)} rows)")
    quote_ = dict(zip(header, (field.strip() for field in rows[0]), strict=True))
    if quote_["symbol"].upper() != symbol:
        raise Malformed(f"a quote for {quote_['symbol'][:20]!r}")
    if quote_["close"] == "N/D":
        raise UnknownSymbol(symbol)
    try:
        price = Decimal(quote_["close"])
    except InvalidOperation:
        raise Malformed(f"a price that is not a number: {quote_['close'][:20]!r}") from None
    if not price.is_finite() or price < 0:
        raise Malformed(f"a price that is not a number: {quote_['close'][:20]!r}")
    return Quote(price, _stamp(quote_.get("date", "")), _stamp(quote_.get("time", ""))[:5])


def _stamp(field: str) -> str:
    """A date or time field if it looks like one (digits and separators), else ""."""
    return field if re.fullmatch(r"[0-9][0-9:-]{0,18}", field) else ""


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
        raise Failed(
            f"{SERVICE} sent something that is not a quote",
            f"GET {url}: {exc}; the answer began {body[:120]!r}",
        ) from None
    where = ", ".join(
        part for part in (source_name(url), f"{quote_.date} {quote_.time}".strip()) if part
    )
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
