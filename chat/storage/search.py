"""Full-text search of messages, within the rooms a user may read.

Visibility is decided in the search SQL itself, by the rule every read uses
(`queries.SQL_READABLE_BY`), so a hidden room's messages never reach the
ranking or the answer. Pages are keyset-paged by a `Cursor`.
"""

import math
from dataclasses import dataclass

import psycopg
from psycopg import Connection

from chat.domain.errors import ChatError
from chat.storage.queries import SQL_MESSAGE_KINDS, SQL_READABLE_BY

# A screenful of results; more is what the next page is for.
PAGE_SIZE = 20
# A query matching a large share of a big installation (a very common word
# across every public room) must rank every match; this bounds that work so
# one search cannot hold a pooled connection for long.
SEARCH_TIMEOUT_MS = "5000"
# ts_headline marks matches with these; they are removed from the text first,
# so after HTML-escaping the snippet every one of them is ours to turn into
# <mark>. (Control characters: escaping leaves them alone.)
START_SEL, STOP_SEL = "\x01", "\x02"

SQL_STATEMENT_TIMEOUT = "SELECT set_config('statement_timeout', %s, true)"
# querytree() is the part of a query an index can answer: '' when the query has
# no words at all ("!!!"), 'T' when it only excludes words ("-dog"), which
# would mean reading every message.
SQL_QUERY_TREE = "SELECT querytree(websearch_to_tsquery('simple', %s)) AS tree"

# One page of matches, best first. A message matches by its text or by the
# name of one of its files (docs/files.md): `hits` takes both from their GIN
# indexes (migration 0007's on messages, whose kind and deleted_at conditions
# are repeated so it applies; 0018's on the words of sent files' names), a message
# ranked by its better match. `visible` is the visibility rule (public, or a
# member), narrowed to one room when a room filter is given; the kind and
# deleted_at conditions keep events and deleted messages out even if a row's
# vector were stale. The keyset (rank, room_id, seq) continues after the
# previous page's last row: stable while new messages arrive. The snippet is
# made only for the page's rows, from the text and the file names.
SQL_SEARCH = (
    """
    WITH visible AS (
        SELECT r.id, r.name, r.is_direct
        FROM rooms r
        WHERE (%(room_id)s::bigint IS NULL OR r.id = %(room_id)s::bigint)
          AND """
    + SQL_READABLE_BY
    + """
    ),
    hits AS (
        SELECT room_id, seq, max(rank) AS rank FROM (
            SELECT m.room_id, m.seq,
                   ts_rank_cd(m.search, websearch_to_tsquery('simple', %(q)s))::float8 AS rank
            FROM messages m
            WHERE m.search @@ websearch_to_tsquery('simple', %(q)s)
              AND m.kind IN """
    + SQL_MESSAGE_KINDS
    + """
              AND m.deleted_at IS NULL
            UNION ALL
            SELECT f.room_id, f.seq,
                   ts_rank_cd(file_name_vector(f.name),
                              websearch_to_tsquery('simple', %(q)s))::float8
            FROM files f
            WHERE file_name_vector(f.name) @@ websearch_to_tsquery('simple', %(q)s)
              AND f.seq IS NOT NULL
        ) matched
        GROUP BY room_id, seq
    ),
    page AS (
        SELECT m.room_id, m.seq, m.user_id, m.kind, m.content, m.created_at, m.edited_at,
               m.thread_seq, h.rank
        FROM hits h
        JOIN messages m ON m.room_id = h.room_id AND m.seq = h.seq
        JOIN visible v ON v.id = m.room_id
        JOIN users u ON u.id = m.user_id
        WHERE m.kind IN """
    + SQL_MESSAGE_KINDS
    + """
          AND m.deleted_at IS NULL
          AND (%(author)s::text IS NULL OR lower(u.username) = lower(%(author)s::text))
          AND (%(after_rank)s::float8 IS NULL
               OR (h.rank, m.room_id, m.seq)
                  < (%(after_rank)s::float8, %(after_room)s::bigint, %(after_seq)s::bigint))
        ORDER BY h.rank DESC, m.room_id DESC, m.seq DESC
        LIMIT %(limit)s
    )
    SELECT p.rank, p.room_id, p.seq, p.kind, p.created_at, p.edited_at, p.thread_seq,
           v.name AS room, v.is_direct, u.username,
           CASE WHEN v.is_direct THEN (
               SELECT o.username FROM room_members om JOIN users o ON o.id = om.user_id
               WHERE om.room_id = p.room_id AND om.user_id <> %(user_id)s
               LIMIT 1
           ) END AS partner,
           ts_headline('simple', translate(p.content || coalesce(E'\\n' || (
                           SELECT string_agg(f.name, ' ' ORDER BY f.position) FROM files f
                           WHERE f.room_id = p.room_id AND f.seq = p.seq), ''),
                       E'\\x01\\x02', ''),
                       websearch_to_tsquery('simple', %(q)s),
                       'StartSel="\x01", StopSel="\x02", MaxWords=35, MinWords=15, ShortWord=2')
               AS headline
    FROM page p
    JOIN visible v ON v.id = p.room_id
    JOIN users u ON u.id = p.user_id
    ORDER BY p.rank DESC, p.room_id DESC, p.seq DESC
"""
)


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after this (rank, room_id, seq), in that order descending."""

    rank: float
    room_id: int
    seq: int

    def encode(self) -> str:
        return f"{self.rank!r}_{self.room_id}_{self.seq}"  # repr: the float round-trips exactly

    @classmethod
    def decode(cls, raw: str) -> "Cursor":
        """The cursor `encode` wrote; ChatError('bad_request') for any other text."""
        parts = raw.split("_")
        if len(parts) != 3 or not all(_whole(p) for p in parts[1:]):
            raise ChatError("bad_request", "cursor is not one this server gave out")
        try:
            rank = float(parts[0])
        except ValueError:
            raise ChatError("bad_request", "cursor is not one this server gave out") from None
        if not math.isfinite(rank) or rank < 0:
            raise ChatError("bad_request", "cursor is not one this server gave out")
        return cls(rank, int(parts[1]), int(parts[2]))


def _whole(raw: str) -> bool:
    return raw.isascii() and raw.isdigit() and len(raw) <= 18


def search(
    conn: Connection,
    user_id: int,
    q: str,
    room_id: int | None = None,
    author: str | None = None,
    after: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> tuple[list[dict], Cursor | None]:
    """One page of the user's matches, best first, and the cursor of the next page (or None).

    Raises ChatError('bad_request') for a query with no word to look for, or
    one that matches too much to rank within SEARCH_TIMEOUT_MS.
    """
    tree = conn.execute(SQL_QUERY_TREE, (q,)).fetchone()["tree"]
    if tree == "":
        raise ChatError("bad_request", "the query has no words to search for")
    if tree == "T":
        raise ChatError("bad_request", "search for at least one word, not only -excluded ones")
    conn.execute(SQL_STATEMENT_TIMEOUT, (SEARCH_TIMEOUT_MS,))  # this transaction only
    params = {
        "user_id": user_id,
        "q": q,
        "room_id": room_id,
        "author": author,
        "after_rank": after.rank if after else None,
        "after_room": after.room_id if after else None,
        "after_seq": after.seq if after else None,
        "limit": limit + 1,  # one more tells whether there is a next page
    }
    try:
        rows = conn.execute(SQL_SEARCH, params).fetchall()
    except psycopg.errors.QueryCanceled:
        raise ChatError(
            "bad_request", "that search matches too much: add words or filter by room"
        ) from None
    more = len(rows) > limit
    rows = rows[:limit]
    following = Cursor(rows[-1]["rank"], rows[-1]["room_id"], rows[-1]["seq"]) if more else None
    return rows, following
