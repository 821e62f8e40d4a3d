"""Every SQL write and every NOTIFY in chat/ lives in chat/actions (DESIGN §3, §8).

A syntax-tree check over every module: a string constant that is a writing
statement (INSERT, UPDATE ... SET, DELETE, TRUNCATE, MERGE, COPY ... FROM,
NOTIFY, a WITH whose parts write) or calls pg_notify() may appear only under
chat/actions; migrations are .sql files, and chat/storage/migrate.py's own
bookkeeping is the one allowed exception. Docstrings and comments may talk
about NOTIFY freely: only strings that read as SQL count, and a docstring (or
any bare string statement) is never executed.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHAT = ROOT / "chat"
WRITERS = "chat/actions/"
# (module, how the statement starts): statements allowed outside WRITERS.
ALLOWED = {("chat/storage/migrate.py", "INSERT INTO schema_migrations")}

_FLAGS = re.IGNORECASE | re.DOTALL
_NAME = r"[\w.\"]+"
# A string is a writing statement if, its leading blanks and SQL comments
# stripped, it starts with one of these (case-insensitive, as SQL is).
_WRITE_STATEMENTS = [
    re.compile(
        rf"INSERT\s+INTO\s+{_NAME}(\s+AS\s+\w+)?\s*(\(|VALUES\b|SELECT\b|DEFAULT\b|OVERRIDING\b)",
        _FLAGS,
    ),
    re.compile(rf"UPDATE\s+(ONLY\s+)?{_NAME}(\s+(AS\s+)?\w+)?\s+SET\b", _FLAGS),
    re.compile(
        rf"DELETE\s+FROM\s+(ONLY\s+)?{_NAME}(\s+(AS\s+)?\w+)?\s*(WHERE\b|USING\b|RETURNING\b|;|$)",
        _FLAGS,
    ),
    re.compile(
        rf"TRUNCATE\s+(TABLE\s+)?(ONLY\s+)?{_NAME}(\s*,\s*{_NAME})*\s*"
        r"(;|$|RESTART\b|CONTINUE\b|CASCADE\b|RESTRICT\b)",
        _FLAGS,
    ),
    re.compile(r"MERGE\s+INTO\b", _FLAGS),
    re.compile(rf"COPY\s+{_NAME}(\s*\([^)]*\))?\s+FROM\b", _FLAGS),
    re.compile(r"NOTIFY\s+[\w\"]+\s*(,|;|$)", _FLAGS),
]
# A WITH query writes if one of its parts (or its main statement) does.
_WRITE_IN_WITH = re.compile(
    rf"\b(INSERT\s+INTO|DELETE\s+FROM|MERGE\s+INTO|UPDATE\s+{_NAME}(\s+\w+)?\s+SET)\b", _FLAGS
)
# pg_notify() anywhere in a string: SELECT pg_notify(...), PERFORM, a CTE.
_PG_NOTIFY = re.compile(r"\bpg_notify\s*\(", _FLAGS)
_LEADING = re.compile(r"\A(\s+|--[^\n]*(\n|\Z)|/\*.*?\*/)*", _FLAGS)


def writes(text: str) -> bool:
    """Whether a string constant is SQL that writes or notifies."""
    if _PG_NOTIFY.search(text):
        return True
    statement = _LEADING.sub("", text, count=1)
    if re.match(r"WITH\b", statement, _FLAGS):
        return bool(_WRITE_IN_WITH.search(statement))
    return any(pattern.match(statement) for pattern in _WRITE_STATEMENTS)


def _bare_strings(tree: ast.AST) -> set[int]:
    """ids of string constants that are statements of their own (docstrings)."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


def _strings(tree: ast.AST):
    """(line, text) of each string constant that is not a statement of its own; an
    f-string is one text, each of its replacement fields standing as a name."""
    skip = _bare_strings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            skip.update(id(part) for part in node.values)
            yield (
                node.lineno,
                "".join(
                    part.value if isinstance(part, ast.Constant) else "field"
                    for part in node.values
                ),
            )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in skip:
                yield node.lineno, node.value


def offenders(source: str, module: str) -> list[str]:
    """'<module>:<line>: <statement>' for each write outside chat/actions in `source`."""
    if module.startswith(WRITERS):
        return []
    found = []
    for line, text in _strings(ast.parse(source)):
        if writes(text):
            statement = " ".join(text.split())
            if any(module == m and statement.startswith(s) for m, s in ALLOWED):
                continue
            found.append(f"{module}:{line}: {statement[:80]}")
    return found


def test_every_write_and_notify_is_in_chat_actions():
    found = []
    for path in sorted(CHAT.rglob("*.py")):
        found += offenders(path.read_text(), path.relative_to(ROOT).as_posix())
    assert found == [], "SQL that writes outside chat/actions:\n" + "\n".join(found)


def test_the_checker_sees_the_write_path():
    """It reads the real tree: chat/actions holds writes, and migrate.py's one is allowed."""
    actions = CHAT / "actions" / "messages.py"
    assert offenders(actions.read_text(), "chat/realtime/messages.py") != []
    migrate = (CHAT / "storage" / "migrate.py").read_text()
    assert offenders(migrate, "chat/storage/migrate.py") == []
    assert offenders(migrate, "chat/storage/elsewhere.py") != []


WRITING = [
    "INSERT INTO messages (room_id) VALUES (%s)",
    "\n    insert into rooms (name) values (%s)",
    "UPDATE rooms SET last_seq = %s WHERE id = %s",
    "UPDATE bot_jobs j SET attempts = 1",
    "DELETE FROM presence WHERE worker_id = %s",
    "DELETE FROM workers",
    "DELETE FROM bot_jobs j USING rooms r WHERE r.id = j.room_id",
    "INSERT INTO users AS u DEFAULT VALUES",
    "INSERT INTO workers SELECT 1",
    "TRUNCATE messages",
    "TRUNCATE TABLE rooms, users RESTART IDENTITY",
    "MERGE INTO rooms r USING x ON true WHEN MATCHED THEN DO NOTHING",
    "COPY messages (room_id, seq) FROM STDIN",
    "NOTIFY chat, 'hi'",
    "NOTIFY chat",
    "SELECT pg_notify(%s, %s)",
    "SELECT pg_notify ('chat', %s)",
    "-- a comment first\nDELETE FROM rooms",
    "/* why */ UPDATE rooms SET name = %s",
    "WITH gone AS (DELETE FROM mentions RETURNING 1) SELECT count(*) FROM gone",
    "WITH v AS (SELECT 1) INSERT INTO rooms (name) SELECT 'x' FROM v",
]
READING = [
    "SELECT id FROM rooms WHERE name = %s",
    "SELECT id, last_seq FROM rooms WHERE id = ANY(%s) FOR UPDATE",
    "LISTEN chat",
    "UNLISTEN *",
    "COPY (SELECT * FROM messages) TO STDOUT",
    "WITH k AS (SELECT 1) SELECT * FROM messages JOIN k USING (id)",
    "SELECT pg_advisory_xact_lock(%s)",
    "A NOTIFY this worker sends itself every interval, through the pool.",
    "Notify them when the update is done.",
    "Update the settings before you insert into the list.",
    "delete from your notes what you no longer need",
    "Truncate the name to 63 bytes, as PostgreSQL does",
    "insert a row, then notify",
    "ping 7f-12",
]


@pytest.mark.parametrize("text", WRITING)
def test_statements_that_write_or_notify_are_seen(text):
    assert writes(text)


@pytest.mark.parametrize("text", READING)
def test_reads_listens_and_prose_are_not(text):
    assert not writes(text)


@pytest.mark.parametrize(
    ("source", "lines"),
    [
        ('SQL = "UPDATE rooms SET name = %s"\n', [1]),
        ('def f(conn):\n    conn.execute("SELECT pg_notify(%s, %s)", ("c", "p"))\n', [2]),
        ('def f(conn, c):\n    conn.execute(f"NOTIFY {c}")\n', [2]),
        ('def f(conn, t):\n    conn.execute(f"DELETE FROM {t}")\n', [2]),
        ('"""Sends NOTIFY chat; and SELECT pg_notify(...) on commit."""\n', []),
        ('def f():\n    """INSERT INTO rooms: what it does."""\n', []),
        ("X = 1  # UPDATE rooms SET name = 1\n", []),
        ('CHANNEL = "chat"\nSQL = f"LISTEN {CHANNEL}"\n', []),
    ],
)
def test_a_write_added_outside_actions_names_its_file_and_line(source, lines):
    found = offenders(source, "chat/realtime/new.py")
    assert [int(f.split(":")[1]) for f in found] == lines
    assert all(f.startswith("chat/realtime/new.py:") for f in found)
    assert offenders(source, "chat/actions/new.py") == []
