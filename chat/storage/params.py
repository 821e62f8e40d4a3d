"""Batch parameters for the send path, in the forms cheapest to send.

A batch's statements take their rows as arrays. psycopg builds an array
parameter in Python, element by element: about 1 µs an integer and 3 µs a
string on this machine (issue 20), so the ten columns of a batch's insert
cost more than the rest of the send path. These build the same values as one
string each, which PostgreSQL parses in C:

- `bigints(values)`: an array literal, `'{1,2,3}'`, for `%s::bigint[]`;
- `records(rows)`: a JSON array of objects, for
  `json_to_recordset(%s::json) AS k(name type, ...)`, whose column list names
  the keys and gives their types (a missing key or a JSON null is NULL).

Text travels as JSON strings, escaped by orjson; the values have passed the
protocol's checks (no NUL, valid UTF-8), so PostgreSQL takes every one.
"""

from collections.abc import Iterable, Mapping

import orjson


def bigints(values: Iterable[int]) -> str:
    """PostgreSQL's literal of a bigint[] holding `values`, in order."""
    return "{" + ",".join([str(int(value)) for value in values]) + "}"


def records(rows: Iterable[Mapping[str, object]]) -> str:
    """One JSON text of `rows` (str, int, bool or None values) for json_to_recordset."""
    return orjson.dumps(list(rows)).decode()
