"""What an upload is, from its first bytes: the sniffed type, and a raster
image's size (docs/files.md "The life of a file").

The type comes from the content only: the uploader's `Content-Type` and the
name's extension are whatever the uploader says, and a page that trusted them
would serve `evil.png` full of HTML as an image. Sniffed with puremagic: a
pure-Python reader of magic numbers that is kept up to date (hundreds of
signatures, regular releases), and needs no system library (python-magic
needs libmagic installed, `filetype` has had no release since 2022). Text that
no signature matches but reads as UTF-8 is `text/plain`; anything else
unknown is `application/octet-stream`.

Only PNG, JPEG, GIF and WebP count as images (RASTER_TYPES), and only after
Pillow has read their header (lazily: no pixel is decoded here): width and
height, with the EXIF orientation applied (a phone's portrait photo is stored
landscape with an orientation tag). A header Pillow cannot read, or a size
over the pixel limit (a decompression bomb: a tiny file announcing 30,000 ×
30,000 pixels), refuses the upload with ChatError('bad_image') before anything
decodes it. Everything else (SVG and HTML included) is only ever served as an
attachment (chat/web/files.py).
"""

import io
import warnings
from dataclasses import dataclass

import puremagic
from PIL import Image, UnidentifiedImageError

from chat.domain.errors import ChatError

# Pillow's format name -> the type served for it; the only types ever shown inline.
RASTER_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
INLINE_TYPES = frozenset(RASTER_TYPES.values())
OCTET_STREAM = "application/octet-stream"
# EXIF's Orientation tag; values 5 to 8 turn the picture a quarter (width and height swap).
_ORIENTATION = 0x0112
_QUARTER_TURNS = frozenset({5, 6, 7, 8})
# Text controls a plain-text file may hold (tab, newline, form feed, return).
_TEXT_CONTROLS = frozenset("\t\n\f\r")


@dataclass(frozen=True, slots=True)
class Sniffed:
    """An upload's type, and for a raster image its size (orientation applied)."""

    media_type: str
    width: int | None = None
    height: int | None = None

    @property
    def is_image(self) -> bool:
        return self.media_type in INLINE_TYPES


def sniff(head: bytes, max_pixels: int) -> Sniffed:
    """The type of a file whose first bytes are `head` (its first chunk; a
    JPEG's header is within it unless its metadata is huge).

    Raises ChatError('bad_image') for a raster image whose header Pillow
    cannot read (truncated, corrupt) or that has more than `max_pixels` pixels.
    """
    guessed = _magic(head)
    if guessed in INLINE_TYPES or _pillow_claims(head):
        return _image(head, max_pixels)
    return Sniffed(guessed)


def _magic(head: bytes) -> str:
    try:
        matches = puremagic.magic_string(head)
    except (puremagic.PureError, ValueError):
        matches = []
    for match in matches:
        if match.mime_type:
            return match.mime_type
    return "text/plain" if _is_text(head) else OCTET_STREAM


def _is_text(head: bytes) -> bool:
    """UTF-8 text (the first chunk may end inside a character) with no controls but
    tabs and line breaks."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")
    return all(ch >= " " or ch in _TEXT_CONTROLS for ch in text)


def _pillow_claims(head: bytes) -> bool:
    """Whether one of the four formats' signature checks accepts the bytes (a
    file puremagic names otherwise, but a browser would still render)."""
    from PIL import GifImagePlugin, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

    return any(
        plugin._accept(head[:16])  # noqa: SLF001 - Pillow's own signature test
        for plugin in (PngImagePlugin, JpegImagePlugin, GifImagePlugin, WebPImagePlugin)
    )


def _image(head: bytes, max_pixels: int) -> Sniffed:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(head), formats=list(RASTER_TYPES)) as image:
                width, height = image.size
                media_type = RASTER_TYPES[image.format]
                orientation = image.getexif().get(_ORIENTATION)
    except Image.DecompressionBombError:
        raise _too_many_pixels(max_pixels) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ChatError(
            "bad_image", f"this image cannot be read (damaged or cut short): {type(exc).__name__}"
        ) from None
    if width < 1 or height < 1:
        raise ChatError("bad_image", "this image has no pixels")
    if width * height > max_pixels:
        raise _too_many_pixels(max_pixels)
    if orientation in _QUARTER_TURNS:
        width, height = height, width
    return Sniffed(media_type, width, height)


def _too_many_pixels(max_pixels: int) -> ChatError:
    return ChatError(
        "bad_image", f"this image is larger than {max_pixels:,} pixels (width × height)"
    )
