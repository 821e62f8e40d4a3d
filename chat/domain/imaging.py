"""An uploaded image's derived variants (docs/files.md): the `clean` copy others
are served and the `thumb`, made with Pillow from the original's bytes.

Bytes in, bytes out: no database, no files on disk. The worker
(chat/bots/work.py) hands the original in as bytes: at most UPLOAD_MAX_BYTES
(25 MiB), the one copy of it this process holds; Pillow decodes from it.

What is refused (`Refused`, the file ends `failed`, shown as an attachment):
- a decompression bomb: more than `max_pixels` pixels (IMAGE_MAX_PIXELS).
  Pillow's own check (Image.MAX_IMAGE_PIXELS, set per call) raises
  DecompressionBombError past twice the limit and only warns between once and
  twice; the warning is made an error here, and the size read from the header
  is checked again before anything is decoded, so a 30,000 x 30,000 PNG of a
  few kilobytes costs a header read, not 2.7 GB;
- anything Pillow cannot read whole: truncated, corrupt, not an image, or a
  type other than PNG, JPEG, GIF and WebP (Pillow's other decoders are never
  reached: `formats=` limits which ones open() tries).

What the clean copy is: the pixels, re-encoded in the original's format, with
the EXIF orientation applied (ImageOps.exif_transpose) and no metadata at all:
no EXIF (GPS position, camera serial numbers, the time), no XMP, no IPTC, no
comments or text chunks. `info` is emptied before saving because Pillow's
encoders copy some of it (a PNG's text chunks, an ICC profile) on their own.

The colour profile: a profile may be a plain standard one (sRGB, Display P3)
or a device's own calibration, whose description, creator and date can point
at one camera or screen. Rather than argue which is which, an image with a
profile is converted to sRGB (ImageCms) and saved without one: the colours
stay right in a browser (which takes untagged images as sRGB), and no profile
bytes leave the uploader's machine. A profile LittleCMS cannot use is dropped.

Animation: a GIF, WebP or PNG with several frames keeps them (people send
animated GIFs to be seen moving; a still first frame would quietly change the
message), as long as all its frames together are within `max_pixels`;
a longer one is reduced to its first frame (its decoded frames would cost as
much memory as a bomb). The thumbnail is always the first frame, a still.
"""

import io
import warnings
from dataclasses import dataclass
from hashlib import sha256

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

# The formats a clean copy is made of, by Pillow's name, with their media types.
FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
# A thumbnail fits in this box (the message list shows it at most half as big,
# so it is sharp on a 2x screen), as WebP: a fraction of PNG's size for photos.
THUMB_BOX = (400, 400)
# An avatar is cut square, this many pixels a side: 2x the largest avatar shown.
AVATAR_SIDE = 128
# Re-encoding quality: indistinguishable from the original on a phone screen
# (JPEG, WebP), at half the bytes of 100. Thumbnails can take less.
QUALITY = 90
THUMB_QUALITY = 80


class Refused(Exception):  # noqa: N818 - a verdict, as egress's Refused
    """The image cannot be used: `reason` says why in words for a log (no
    file name, nothing from the file)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Variant:
    """One derived image: its bytes, media type, size in pixels and checksum."""

    name: str  # 'clean' or 'thumb' (file_variants.variant)
    data: bytes
    media_type: str
    width: int
    height: int

    @property
    def sha256(self) -> bytes:
        return sha256(self.data).digest()


def derive(original: bytes, max_pixels: int, avatar: bool = False) -> list[Variant]:
    """The clean copy and the thumbnail of `original` (an avatar: its square
    thumbnail only, as nothing else of it is ever served). Raises Refused."""
    with _opened(original, max_pixels) as image:
        frames = getattr(image, "n_frames", 1)
        if avatar:
            still = _still(image)
            square = ImageOps.fit(still, (AVATAR_SIDE, AVATAR_SIDE), Image.Resampling.LANCZOS)
            return [_encode_thumb(square)]
        if frames > 1 and frames * image.width * image.height <= max_pixels:
            clean = _encode_animation(image)
        else:
            clean = _encode_still(_still(image), image.format)
        thumb = _still(image)
        thumb.thumbnail(THUMB_BOX, Image.Resampling.LANCZOS)
        return [clean, _encode_thumb(thumb)]


class _opened:  # noqa: N801 - used as a function: `with _opened(...) as image`
    """Open `data` as an image of an allowed format, refusing bombs and
    anything unreadable; close it after."""

    def __init__(self, data: bytes, max_pixels: int):
        self.data, self.max_pixels = data, max_pixels
        self.image: Image.Image | None = None
        self.caught = warnings.catch_warnings()

    def __enter__(self) -> Image.Image:
        self.caught.__enter__()
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        # A process-wide setting: the worker runs one job at a time.
        Image.MAX_IMAGE_PIXELS = self.max_pixels
        try:
            image = Image.open(io.BytesIO(self.data), formats=list(FORMATS))
            if image.width * image.height > self.max_pixels:
                raise Refused(f"a decompression bomb: {image.width}x{image.height} pixels")
            image.load()  # decode now: a truncated file fails here, not halfway through saving
        except Refused:
            self.caught.__exit__(None, None, None)
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            self.caught.__exit__(None, None, None)
            raise Refused(f"a decompression bomb ({type(exc).__name__})") from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
            # Pillow's decoders raise all of these for broken input (SyntaxError
            # for some malformed headers, EOFError for cut frames).
            self.caught.__exit__(None, None, None)
            raise Refused(f"not a readable image ({type(exc).__name__})") from None
        self.image = image
        return image

    def __exit__(self, *exc_info) -> None:
        if self.image is not None:
            self.image.close()
        self.caught.__exit__(*exc_info)


def _still(image: Image.Image) -> Image.Image:
    """The first frame, upright, in sRGB, as a new image without metadata."""
    image.seek(0)
    frame = ImageOps.exif_transpose(image)
    if frame is None or frame is image:
        frame = image.copy()
    if frame.mode in ("P", "L", "RGB") and "transparency" in frame.info:
        frame = frame.convert("RGBA")  # the transparency lives in `info`, emptied below
    frame = _to_srgb(frame, image.info.get("icc_profile"))
    frame.info = {}
    return frame


def _to_srgb(image: Image.Image, profile: bytes | None) -> Image.Image:
    """`image`'s colours converted from its ICC `profile` to sRGB (unchanged
    when it has none, or one LittleCMS cannot use with the image's mode)."""
    if not profile:
        return image
    if image.mode not in ("RGB", "RGBA", "CMYK", "L"):
        image = image.convert("RGBA" if image.mode in ("LA", "PA") else "RGB")
    mode = "RGBA" if image.mode == "RGBA" else "RGB"
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        converted = ImageCms.profileToProfile(
            image, source, ImageCms.createProfile("sRGB"), outputMode=mode
        )
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image
    return converted if converted is not None else image


def _encode_still(image: Image.Image, fmt: str) -> Variant:
    out = io.BytesIO()
    if fmt == "JPEG":
        if image.mode not in ("RGB", "L", "CMYK"):
            image = image.convert("RGB")
        image.save(out, "JPEG", quality=QUALITY, optimize=True)
    elif fmt == "WEBP":
        image.save(out, "WEBP", quality=QUALITY)
    elif fmt == "GIF":
        image.save(out, "GIF")
    else:
        image.save(out, "PNG", optimize=True)
    return Variant("clean", out.getvalue(), FORMATS[fmt], image.width, image.height)


def _encode_animation(image: Image.Image) -> Variant:
    """Every frame, with its duration, looping as the original did; no metadata."""
    frames, durations = [], []
    for index in range(image.n_frames):
        image.seek(index)
        frame = image.convert("RGBA")
        frame.info = {}
        frames.append(frame)
        durations.append(image.info.get("duration", 100))
    fmt = image.format
    out = io.BytesIO()
    options = {"save_all": True, "append_images": frames[1:], "duration": durations}
    if "loop" in image.info:
        options["loop"] = image.info["loop"]
    if fmt == "WEBP":
        options["quality"] = QUALITY
    if fmt == "GIF":
        options["disposal"] = 2
    frames[0].save(out, fmt, **options)
    return Variant("clean", out.getvalue(), FORMATS[fmt], image.width, image.height)


def _encode_thumb(image: Image.Image) -> Variant:
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    image = image.convert("RGBA" if has_alpha else "RGB")
    out = io.BytesIO()
    image.save(out, "WEBP", quality=THUMB_QUALITY)
    return Variant("thumb", out.getvalue(), "image/webp", image.width, image.height)


def probe(head: bytes, max_pixels: int) -> tuple[str, int, int]:
    """(media type, width, height) of an image whose first bytes are `head`,
    orientation applied, without decoding it; Refused for anything else, or
    over `max_pixels`. For refusing an upload early (the worker checks again)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            with Image.open(io.BytesIO(head), formats=list(FORMATS)) as image:
                width, height = image.size
                media_type = FORMATS[image.format]
                orientation = image.getexif().get(0x0112, 1)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise Refused("too many pixels") from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
            raise Refused(f"not a readable image ({type(exc).__name__})") from None
    if width * height > max_pixels:
        raise Refused("too many pixels")
    if orientation in (5, 6, 7, 8):  # turned a quarter: width and height swap
        width, height = height, width
    return media_type, width, height
