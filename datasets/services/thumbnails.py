"""Thumbnails of item images, made by the worker after a version lands (pages show the image until then)."""

import io
from typing import TYPE_CHECKING

from django.core.files.base import ContentFile

from core.lazy import lazy_module
from datasets.models import Item

if TYPE_CHECKING:
    import PIL.Image as Image
else:  # Pillow loads with the first thumbnail, not with every process
    Image = lazy_module("PIL.Image")

THUMBNAIL_SIZE = (256, 256)
BATCH = 200


def thumbnail_bytes(data: bytes) -> bytes:
    """A JPEG at most 256 px a side. The image was verified at ingest, within the pixel limit."""
    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail(THUMBNAIL_SIZE)
        out = io.BytesIO()
        image.convert("RGB").save(out, format="JPEG", quality=85)
    return out.getvalue()


def version_thumbnails_make(*, version_id: int) -> int:
    """Make the missing thumbnails of a version's items; safe to run twice. Returns how many were made."""
    made = 0
    pending = (
        Item.objects.filter(version_id=version_id, thumbnail="").exclude(image="").only("id", "image", "version_id")
    )
    for item in pending.iterator(chunk_size=BATCH):
        with item.image.open("rb") as source:
            data = thumbnail_bytes(source.read())
        item.thumbnail.save(f"thumb-{item.pk}.jpg", ContentFile(data), save=False)
        Item.objects.filter(pk=item.pk).update(thumbnail=item.thumbnail.name)
        made += 1
    return made
