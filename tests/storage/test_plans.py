"""The send and delivery paths read every large table through an index, whatever
PostgreSQL knows of it.

A plan is chosen from what the planner believes about a table. Two things make
that belief wrong on a busy server: statistics that lag a burst of growth (no
ANALYZE since, as with autovacuum off), and plans cached while the table was
small. psycopg prepares a statement on its sixth run, and PostgreSQL then keeps
a generic plan for that connection's lifetime; made while `messages` had a few
pages, such a plan is a sequential scan, and it stays one when the table has
millions of rows (issue 20 saw ~28 of them a second during a benchmark).

So the test does both: it runs the paths on small tables until every statement
is prepared with its cached plan, grows the tables to millions of rows with no
statistics, runs the paths again on that connection and on a fresh one, and
reads every executed plan (RI checks included) from auto_explain, sent back as
NOTICEs. A sequential scan of a grown table fails, naming the statement.
"""

import re

import orjson
import psycopg
import pytest
from psycopg import sql

from chat import actions
from chat.actions import Send
from chat.domain.threads import ReplyTo
from chat.storage import db, queries

from ..conftest import cloned_database

# Rows the grown tables get (messages spread over ROOMS rooms, by USERS users).
MESSAGES = 2_000_000
ROOMS = 2_000
USERS = 5_000
# Statements are prepared by psycopg on their 6th run and PostgreSQL settles on
# a generic plan after 5 more: more runs than that on the small tables.
WARM_RUNS = 12
# The tables the send and delivery paths look up by key, grown before the check.
GROWN = (
    "messages",
    "rooms",
    "users",
    "room_members",
    "bot_jobs",
    "mentions",
    "reactions",
    "threads",
    "thread_follows",
    "presence",
    "user_presence",
)


@pytest.fixture(scope="module")
def plans_db(pg_server, template_db):
    """A database of the module's own (its tables are grown), dropped afterwards."""
    with cloned_database(pg_server, template_db, "chat_plans") as url:
        yield url


class Paths:
    """The send path (every branch of send_messages: client_ids and their repeats,
    a first post joining a public room, a reply in a thread, a quote, a mention,
    a room with an outgoing webhook), the delivery path's reads (catch-up and
    gap reads, a feed's start, the online list) and presence's batches
    (arrivals, statuses, departures, a dead worker reaped), run on one connection."""

    def __init__(self, conn):
        self.conn = conn
        make = actions.create_user
        self.alice, self.bob, self.carol = (make(conn, n, "plans test!") for n in "abc")
        self.room = actions.create_room(conn, "plans", self.alice.id)
        self.hooked = actions.create_room(conn, "hooked", self.alice.id)
        actions.outgoing.create_webhook(
            conn, self.hooked, self.alice, "hookbot", "https://hooks.test/x", ("!deploy",)
        )
        self.sent = 0

    def run(self) -> None:
        conn, room = self.conn, self.room
        n = self.sent = self.sent + 1
        root = actions.send_message(conn, room, self.alice, f"root {n}", f"root-{n}").seq
        sends = [
            Send.of(room, self.alice, f"hello {n} @b", f"a-{n}"),
            Send.of(room, self.bob, f"hi {n}", f"b-{n}"),
            Send.of(room, self.alice, f"hello {n} @b", f"a-{n}"),  # a repeat in the batch
            Send.of(room, self.bob, f"in thread {n}", f"t-{n}", reply=ReplyTo(thread=root)),
            Send.of(room, self.carol, f"quoting {n}", f"q-{n}", reply=ReplyTo(quote=root)),
            Send.of(self.hooked, self.alice, f"!deploy {n}", f"h-{n}"),
        ]
        actions.send_messages(conn, sends)
        actions.send_messages(conn, sends[:2])  # repeats of earlier batches
        # A first post in a public room makes its sender a member.
        stranger = actions.create_user(conn, f"s{n}", "plans test!")
        actions.send_message(conn, room, stranger, f"first {n}", f"s-{n}")
        last = queries.room_last_seq(conn, room.id)
        queries.messages_between(conn, room.id, max(0, last - 10), last + 1, 200)
        queries.online_users(conn, room.id)
        self.presence(n)
        conn.commit()  # as the pool does when a connection goes back

    def presence(self, n: int) -> None:
        """A batch of arrivals and statuses, one of departures, and a dead
        worker retired (every statement of actions.apply_changes runs)."""
        conn, room = self.conn, self.room
        worker = f"plans-{n}"
        actions.register_worker(conn, worker)
        people = (self.alice, self.bob, self.carol)
        actions.apply_changes(
            conn,
            [actions.StatusChange(worker, person, n % 2 == 0) for person in people]
            + [actions.RoomChange(worker, room, person, True) for person in people],
        )
        actions.apply_changes(
            conn,
            [actions.RoomChange(worker, room, self.bob, False)]
            + [actions.StatusChange(worker, self.bob, None)],
        )
        conn.execute(
            "UPDATE workers SET heartbeat_at = now() - interval '1 hour' WHERE id = %s", (worker,)
        )
        actions.reap_dead_workers(conn, 60)


def grow(url: str) -> None:
    """Millions of rows in the grown tables, in rooms and by users of their own,
    with no ANALYZE after (autovacuum off for them)."""
    per_room = MESSAGES // ROOMS
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (username, password_hash)"
            " SELECT 'grown' || i, 'x' FROM generate_series(1, %s) i",
            (USERS,),
        )
        conn.execute(
            "INSERT INTO rooms (name, last_seq)"
            " SELECT 'grown' || i, %s FROM generate_series(1, %s) i",
            (per_room, ROOMS),
        )
        grown_rooms = "SELECT id FROM rooms WHERE name ~ '^grown'"
        grown_users = "(SELECT min(id) FROM users WHERE username ~ '^grown')"
        conn.execute(
            "INSERT INTO messages (room_id, seq, user_id, content, client_id)"
            f" SELECT r.id, s, {grown_users} + mod(s, %s), 'm', 'c' || s"
            f" FROM ({grown_rooms}) r, generate_series(1, %s) s",
            (USERS, per_room),
        )
        conn.execute(
            "INSERT INTO room_members (room_id, user_id)"
            f" SELECT r.id, {grown_users} + s FROM ({grown_rooms}) r, generate_series(0, 99) s"
        )
        conn.execute(
            "INSERT INTO mentions (user_id, room_id, seq, since_seq)"
            f" SELECT {grown_users} + mod(s, 100), r.id, s, s"
            f" FROM ({grown_rooms}) r, generate_series(1, 50) s"
        )
        conn.execute(
            "INSERT INTO threads (room_id, root_seq, reply_count, last_reply_seq, last_reply_at)"
            f" SELECT r.id, s, 1, s + 1, now() FROM ({grown_rooms}) r, generate_series(1, 50) s"
        )
        conn.execute(
            "INSERT INTO thread_follows (room_id, root_seq, user_id, following)"
            f" SELECT r.id, s, {grown_users} + s, true"
            f" FROM ({grown_rooms}) r, generate_series(1, 50) s"
        )
        conn.execute(
            "INSERT INTO reactions (room_id, seq, user_id, emoji)"
            f" SELECT r.id, s, {grown_users} + s, '👍'"
            f" FROM ({grown_rooms}) r, generate_series(1, 50) s"
        )
        # Presence: 100 people in each grown room, through 20 workers; each
        # grown user online through one of them.
        conn.execute("INSERT INTO workers (id) SELECT 'grown' || i FROM generate_series(1, 20) i")
        conn.execute(
            "INSERT INTO presence (worker_id, room_id, user_id)"
            f" SELECT 'grown' || (1 + mod(s, 20)), r.id, {grown_users} + s"
            f" FROM ({grown_rooms}) r, generate_series(0, 99) s"
        )
        conn.execute(
            "INSERT INTO user_presence (worker_id, user_id, away)"
            f" SELECT 'grown' || (1 + mod(s, 20)), {grown_users} + s, false"
            " FROM generate_series(0, %s - 1) s",
            (USERS,),
        )
        conn.execute(
            "INSERT INTO bot_jobs (bot, room_id, requested_by, client_id, argument, state)"
            f" SELECT 'stock', r.id, {grown_users} + s, 'j' || s, 'AAPL.US', 'answered'"
            f" FROM ({grown_rooms}) r, generate_series(1, 50) s"
        )


def explained(conn) -> list[dict]:
    """Turn auto_explain on for `conn`: every plan it executes from now on
    (nested ones too: RI checks, functions) comes back as a NOTICE, collected
    into the returned list as auto_explain's JSON."""
    plans: list[dict] = []

    def collect(diag: psycopg.errors.Diagnostic) -> None:
        text = diag.message_primary or ""
        match = re.search(r"plan:\s*(\{.*)", text, re.DOTALL)
        if match:
            plans.append(orjson.loads(match.group(1)))

    conn.add_notice_handler(collect)
    conn.execute("LOAD 'auto_explain'")
    for setting, value in (
        ("log_min_duration", "0"),
        ("log_nested_statements", "on"),
        ("log_format", "json"),
        ("log_level", "notice"),
    ):
        conn.execute(sql.SQL("SET auto_explain.{} = {}").format(sql.SQL(setting), value))
    return plans


def seq_scans(plan: dict) -> set[str]:
    """The grown tables a plan (one auto_explain JSON document) reads whole: a
    sequential scan, or an index scan with no condition on the index (the
    whole index, in its order: no better, and what the planner falls back to
    when sequential scans are off)."""
    found: set[str] = set()
    stack = [plan["Plan"]]
    while stack:
        node = stack.pop()
        table = node.get("Relation Name")
        whole = node.get("Node Type") == "Seq Scan" or (
            node.get("Node Type") in ("Index Scan", "Index Only Scan", "Bitmap Index Scan")
            and "Index Cond" not in node
        )
        if whole and table in GROWN:
            found.add(table)
        stack.extend(node.get("Plans", ()))
    return found


def test_the_send_and_delivery_paths_use_indexes_on_grown_tables_without_statistics(plans_db):
    with psycopg.connect(plans_db, autocommit=True) as setup:
        for table in GROWN:
            setup.execute(
                sql.SQL("ALTER TABLE {} SET (autovacuum_enabled = false)").format(
                    sql.Identifier(table)
                )
            )
    # The product's own connections (chat/storage/db.py), as its workers get them.
    with db.open_pool(plans_db, 1, 10.0, "plans-warm") as pool, pool.connection() as warm:
        paths = Paths(warm)
        for _ in range(WARM_RUNS):
            paths.run()  # every statement prepared, its plan made on small tables
        grow(plans_db)
        bad = scans_of_grown_tables(paths, "warm")
        with db.open_pool(plans_db, 1, 10.0, "plans-fresh") as fresh_pool:
            with fresh_pool.connection() as fresh:  # plans made now, with no statistics
                paths.conn = fresh
                bad |= scans_of_grown_tables(paths, "fresh")
    assert not bad, "sequential scans of grown tables:\n" + "\n".join(sorted(bad))


def scans_of_grown_tables(paths: Paths, label: str) -> set[str]:
    """Run the paths twice on `paths.conn` with auto_explain on; one line per
    statement whose plan scans a grown table sequentially."""
    plans = explained(paths.conn)
    paths.run()
    paths.run()
    assert plans, "auto_explain sent no plans back"
    bad = set()
    for plan in plans:
        tables = seq_scans(plan)
        if tables:
            bad.add(f"{label} {sorted(tables)}: {' '.join(plan['Query Text'].split())}")
    return bad
