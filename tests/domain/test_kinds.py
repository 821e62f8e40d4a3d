"""Message kinds (chat/domain/kinds.py): one definition of "a message people wrote",
in Python and in SQL."""

import re
from pathlib import Path

import psycopg
import pytest

from chat.domain import kinds
from chat.storage import queries

ROOT = Path(__file__).resolve().parents[2]


def test_the_sql_of_message_kinds_is_the_domain_s():
    spelled = "(" + ", ".join(f"'{kind}'" for kind in kinds.MESSAGE_KINDS) + ")"
    assert queries.SQL_MESSAGE_KINDS == spelled
    assert kinds.MESSAGE_KINDS == (kinds.KIND_CHAT, kinds.KIND_ACTION)
    assert set(kinds.ALL_KINDS) == {
        *kinds.MESSAGE_KINDS,
        *kinds.EVENT_KINDS,
        *kinds.MEMBER_KINDS,
        *kinds.ROOM_KINDS,
    }


@pytest.mark.parametrize(
    "path", sorted((ROOT / "chat").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_no_query_spells_the_message_kinds_out(path):
    """Every query says `kind IN ` + SQL_MESSAGE_KINDS: a kind added to messages
    is then added everywhere at once."""
    text = path.read_text()
    if path.name == "queries.py":  # where SQL_MESSAGE_KINDS is
        text = text.replace("SQL_MESSAGE_KINDS = \"('chat', 'action')\"", "")
    assert not re.search(r"""['"]chat['"],\s*['"]action['"]""", text), path


def test_the_schema_allows_exactly_the_domain_kinds(db):
    """The CHECK on messages.kind (migration 0006) and the domain agree."""
    check = db.execute(
        "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint"
        " WHERE conname = 'messages_kind_check'"
    ).fetchone()["def"]
    assert set(re.findall(r"'(\w+)'", check)) == set(kinds.ALL_KINDS)
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("INSERT INTO messages (room_id, seq, user_id, content, kind) "
                   "VALUES (1, 1, 1, 'x', 'other')")  # fmt: skip
