"""Files, images and work jobs for the worker's tests, made from the schema alone
(migration 0017) rather than through the upload route: a file with its
'original' chunks, its image job, attaching it to a message as a send does;
and images made with Pillow (EXIF orientation and GPS, animation, a bomb,
truncated ones)."""

import io
import secrets
import struct
import zlib

from PIL import Image

CHUNK = 256 * 1024


def insert_file(
    db,
    owner,
    data: bytes,
    media_type: str,
    name: str = "picture",
    width: int | None = None,
    height: int | None = None,
    job: bool = True,
) -> dict:
    """A stored file of `owner`'s with `data` as its 'original' chunks, and (with
    `job`) its image job: {"id", "key", "job"}."""
    key = secrets.token_urlsafe(16)
    with db.transaction():
        file_id = db.execute(
            "INSERT INTO files (key, owner_id, name, size, media_type, width, height, state)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, 'stored') RETURNING id",
            (key, owner.id, name, len(data), media_type, width, height),
        ).fetchone()["id"]
        for n, start in enumerate(range(0, len(data), CHUNK)):
            db.execute(
                "INSERT INTO file_chunks (file_id, variant, n, data)"
                " VALUES (%s, 'original', %s, %s)",
                (file_id, n, data[start : start + CHUNK]),
            )
        job_id = None
        if job:
            job_id = db.execute(
                "INSERT INTO work_jobs (kind, file_id) VALUES ('image', %s) RETURNING id",
                (file_id,),
            ).fetchone()["id"]
    return {"id": file_id, "key": key, "job": job_id}


def attach(db, room, seq: int, file_id: int, position: int = 0) -> None:
    """Attach the file to message `seq` as a send does (the room's row lock, then the file's)."""
    with db.transaction():
        db.execute("SELECT 1 FROM rooms WHERE id = %s FOR NO KEY UPDATE", (room.id,))
        db.execute(
            "UPDATE files SET room_id = %s, seq = %s, position = %s WHERE id = %s",
            (room.id, seq, position, file_id),
        )


def file_row(db, file_id: int) -> dict | None:
    return db.execute("SELECT * FROM files WHERE id = %s", (file_id,)).fetchone()


def work_row(db, job_id: int) -> dict | None:
    return db.execute("SELECT * FROM work_jobs WHERE id = %s", (job_id,)).fetchone()


def variant(db, file_id: int, name: str) -> tuple[dict | None, bytes]:
    """The variant's file_variants row and its bytes (joined from its chunks)."""
    row = db.execute(
        "SELECT * FROM file_variants WHERE file_id = %s AND variant = %s", (file_id, name)
    ).fetchone()
    chunks = db.execute(
        "SELECT data FROM file_chunks WHERE file_id = %s AND variant = %s ORDER BY n",
        (file_id, name),
    ).fetchall()
    return row, b"".join(c["data"] for c in chunks)


def events(db, room, kind: str) -> list[dict]:
    return db.execute(
        "SELECT seq, target_seq, user_id FROM messages WHERE room_id = %s AND kind = %s"
        " ORDER BY seq",
        (room.id, kind),
    ).fetchall()


# --- images ---------------------------------------------------------------------------

GPS = 0x8825
ORIENTATION = 0x0112


def photo(
    fmt: str = "JPEG", size=(640, 480), orientation: int | None = 6, gps: bool = True
) -> bytes:
    """A photo whose left half is red and right half blue, with EXIF orientation
    and GPS tags (a position and the camera's make), as a phone saves one."""
    image = Image.new("RGB", size, (220, 20, 20))
    image.paste((20, 20, 220), (size[0] // 2, 0, size[0], size[1]))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    if orientation is not None:
        exif[ORIENTATION] = orientation
    if gps:
        exif[GPS] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    out = io.BytesIO()
    options = {"exif": exif.tobytes()}
    if fmt == "PNG":
        from PIL import PngImagePlugin

        text = PngImagePlugin.PngInfo()
        text.add_text("Comment", "taken at home")
        options["pnginfo"] = text
    image.save(out, fmt, **options)
    return out.getvalue()


def animated_gif(frames: int = 3, size=(60, 40)) -> bytes:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    images = [Image.new("RGB", size, colours[i % len(colours)]) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(
        out,
        "GIF",
        save_all=True,
        append_images=images[1:],
        duration=120,
        loop=0,
        comment=b"made by someone",
    )
    return out.getvalue()


def webp(size=(900, 300), alpha: bool = True) -> bytes:
    image = Image.new(
        "RGBA" if alpha else "RGB", size, (10, 150, 10, 128) if alpha else (10, 150, 10)
    )
    out = io.BytesIO()
    image.save(out, "WEBP", quality=80)
    return out.getvalue()


def png_bomb(side: int = 30_000) -> bytes:
    """A valid PNG of side x side 1-bit grey pixels, all black: ~110 MB decoded
    (900 megapixels), about a hundred kilobytes as a file (zlib at level 9)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: int(len(data) * keep)]
