"""Test data built through the same services the API uses."""

import io
import json

import factory
from django.core.files.uploadedfile import SimpleUploadedFile

from core.models import User


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    role = User.Role.REVIEWER
    password = factory.django.Password("pw-for-tests")


def jsonl(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def jsonl_file(rows: list[dict], name: str = "data.jsonl") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, jsonl(rows), content_type="application/jsonl")


def png_base64(color=(200, 30, 30), size=(8, 8)) -> str:
    import base64

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()
