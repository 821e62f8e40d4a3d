"""Files end to end on the real gunicorn (two gevent workers) and PostgreSQL:
limits answered before (or as soon as) a body passes them, with the workers'
memory flat; a send with files over a socket, live on another worker and in a
catch-up, identical; a refused send stores nothing.

Nothing sleeps to synchronise: every wait is for a frame or an HTTP answer.
"""

import socket
import threading
import time

import orjson
import psutil
import pytest

from ..files_data import png
from ..servers import FRAME_TIMEOUT, http
from .clients import Tab, open_on_worker, open_room

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
HUGE = 200 * MiB


def workers_rss(server) -> int:
    return sum(psutil.Process(pid).memory_info().rss for pid in server.worker_pids())


def read_answer(sock: socket.socket, timeout: float = FRAME_TIMEOUT) -> bytes:
    """The response's head and as much body as arrives with it (up to its JSON's end)."""
    sock.settimeout(timeout)
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
        data = sock.recv(65536)
        if not data:
            break
        answer += data
    return answer


def head(token: str, extra: str) -> bytes:
    return (
        "POST /api/files?name=huge.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n"
        f"{extra}\r\n"
    ).encode()


def test_a_200_mib_upload_is_refused_from_its_content_length_before_its_body(server, people, db):
    before = workers_rss(server)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        started = time.monotonic()
        sock.sendall(head(people["eren"]["token"], f"Content-Length: {HUGE}\r\n"))
        answer = read_answer(sock)  # not a byte of the body was sent
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"code":"too_large"' in answer
    grown = workers_rss(server) - before
    print(
        f"Content-Length 200 MiB: answered in {elapsed:.3f} s,"
        f" workers' RSS grew {grown / MiB:.1f} MiB"
    )
    assert grown < 20 * MiB
    assert db.execute("SELECT count(*) AS n FROM files").fetchone()["n"] == 0


def test_a_chunked_200_mib_upload_is_cut_as_soon_as_it_passes_the_limit(start_server, db):
    from ..conftest import make_token, make_user

    server = start_server(RATE_LIMIT_PER_SEC="0", UPLOAD_MAX_BYTES=str(4 * MiB))
    token = make_token(db, make_user(db, "eren"))
    before = workers_rss(server)
    sent = 0
    answered = threading.Event()
    block = b"%x\r\n" % MiB + b"\xab" * MiB + b"\r\n"

    def pour(sock: socket.socket) -> None:
        nonlocal sent
        try:
            while sent < HUGE and not answered.is_set():
                sock.sendall(block)
                sent += MiB
        except OSError:
            pass  # the server closed its side

    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(head(token, "Transfer-Encoding: chunked\r\n"))
        pourer = threading.Thread(target=pour, args=(sock,), daemon=True)
        pourer.start()
        answer = read_answer(sock, timeout=60)
        answered.set()
        sent_when_answered = sent
    pourer.join(30)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"code":"too_large"' in answer
    grown = workers_rss(server) - before
    print(
        f"chunked 200 MiB, limit 4 MiB: answered after {sent_when_answered / MiB:.0f} MiB sent,"
        f" workers' RSS grew {grown / MiB:.1f} MiB"
    )
    # The limit, plus what the kernel's socket buffers held on both sides.
    assert sent_when_answered < 4 * MiB + 16 * MiB
    assert grown < 20 * MiB
    assert db.execute("SELECT count(*) AS n FROM files").fetchone()["n"] == 0


def _upload(server, person: dict, data: bytes, name: str) -> dict:
    answer = http().post(
        f"{server.url}/api/files",
        params={"name": name},
        data=data,
        headers={"Authorization": f"Bearer {person['token']}"},
        timeout=FRAME_TIMEOUT,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["file"]


def test_a_send_with_files_is_the_same_live_and_in_a_catch_up(server, people):
    eren, mikasa = people["eren"], people["mikasa"]
    shot = _upload(server, eren, png(64, 48), "shot.png")
    notes = _upload(server, eren, b"step one\nstep two\n", "notes.txt")
    sender = open_room(server, "general", eren["token"], "eren")
    reader = open_on_worker(
        server, "general", mikasa, lambda pid: pid != server.worker_of(sender.ws)
    )
    sender.send(
        {"type": "chat", "content": "", "files": [shot["id"], notes["id"]], "client_id": "c-1"}
    )
    _, ack = sender.expect(keep=True, type="ack", client_id="c-1")
    _, live = reader.expect(type="chat", seq=ack["seq"])
    assert live["files"] == [shot, notes]
    assert live["content"] == ""
    # A repeat is the first send, files and all: no second message.
    sender.send(
        {"type": "chat", "content": "", "files": [shot["id"], notes["id"]], "client_id": "c-1"}
    )
    _, again = sender.expect(keep=True, type="ack", client_id="c-1")
    assert again["seq"] == ack["seq"]
    resumed = Tab.open(server, "general", mikasa["token"], after=ack["seq"] - 1)
    before, _ = resumed.until("ready")
    caught_up = [f for f in before if f["type"] == "chat" and f["seq"] == ack["seq"]]
    assert caught_up == [live]
    for tab in (sender, reader, resumed):
        tab.close()


def test_a_socket_send_with_someone_elses_file_stores_nothing(server, people, db):
    theirs = _upload(server, people["mikasa"], b"mine\n", "mine.txt")
    sender = open_room(server, "general", people["eren"]["token"], "eren")
    before = db.execute("SELECT last_seq FROM rooms WHERE name = 'general'").fetchone()
    sender.send({"type": "chat", "content": "look", "files": [theirs["id"]], "client_id": "c-9"})
    _, error = sender.expect(type="error", client_id="c-9")
    assert error["code"] == "bad_request"
    after = db.execute("SELECT last_seq FROM rooms WHERE name = 'general'").fetchone()
    assert after == before
    row = db.execute("SELECT seq FROM files WHERE key = %s", (theirs["id"],)).fetchone()
    assert row["seq"] is None
    sender.close()


def test_a_download_through_gunicorn_streams_ranges(server, people):
    data = bytes(range(256)) * 4096  # 1 MiB
    file = _upload(server, people["eren"], data, "data.bin")
    auth = {"Authorization": f"Bearer {people['eren']['token']}"}
    whole = http().get(f"{server.url}/api/files/{file['id']}", headers=auth, timeout=FRAME_TIMEOUT)
    assert whole.content == data and whole.headers["Content-Length"] == str(len(data))
    part = http().get(
        f"{server.url}{file['url']}", headers={**auth, "Range": "bytes=-100"}, timeout=FRAME_TIMEOUT
    )
    assert (part.status_code, part.content) == (206, data[-100:])
    assert orjson.loads(orjson.dumps(file))["type"] == "application/octet-stream"
