"""Files for the tests of uploads and downloads, made here byte by byte: real
images, and hostile ones (a decompression bomb, polyglots, a truncated JPEG)."""

import io
import os
import struct
import zlib

from PIL import Image


def png(width: int = 30, height: int = 20) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg(width: int = 30, height: int = 20, orientation: int | None = None) -> bytes:
    image = Image.new("RGB", (width, height), (40, 200, 40))
    exif = image.getexif()
    if orientation is not None:
        exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid PNG header announcing width × height pixels (900 megapixels by
    default) with one tiny compressed row after it: a few dozen bytes on disk."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def truncated_jpeg() -> bytes:
    """A JPEG cut inside its header: its signature, then nothing readable."""
    return jpeg()[:40]


SVG_WITH_SCRIPT = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(document.cookie)</script></svg>"
)
HTML_PAGE = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"


def gif_js_polyglot() -> bytes:
    """A GIF whose header is also the start of a JavaScript comment: `GIF89a/*`
    (a 10799-pixel-wide image), the picture, then `*/=alert(1);`."""
    buffer = io.BytesIO()
    Image.new("P", (1, 1)).save(buffer, "GIF")
    body = buffer.getvalue()
    # Width 0x2A2F little-endian is the bytes "/*"; height 1.
    header = b"GIF89a" + b"/*" + struct.pack("<H", 1)
    return header + body[10:] + b"*/=alert(1);"


def png_html_polyglot() -> bytes:
    """A real PNG with an HTML page appended after its IEND."""
    return png() + HTML_PAGE


def random_bytes(size: int) -> bytes:
    return os.urandom(size)


class GeneratedBody:
    """A request body of `size` bytes made as it is read (nothing held), for
    memory measurements of uploads."""

    def __init__(self, size: int):
        self.left = size
        self._block = os.urandom(64 * 1024)

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if n is None or n < 0 else min(n, self.left)
        n = min(n, len(self._block))
        self.left -= n
        return self._block[:n]
