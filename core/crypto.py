"""Symmetric encryption for secrets we must read back (webhook signing keys): Fernet, keyed from SECRET_KEY."""

import base64
from typing import TYPE_CHECKING

from django.conf import settings

from core.lazy import lazy_module

if TYPE_CHECKING:
    from cryptography import fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf import hkdf
else:  # cryptography loads with the first webhook secret read or written, not with every process
    fernet = lazy_module("cryptography.fernet")
    hashes = lazy_module("cryptography.hazmat.primitives.hashes")
    hkdf = lazy_module("cryptography.hazmat.primitives.kdf.hkdf")


def _fernet() -> "fernet.Fernet":
    key = hkdf.HKDF(algorithm=hashes.SHA256(), length=32, salt=b"signoff-field-encryption", info=b"v1").derive(
        settings.SECRET_KEY.encode()
    )
    return fernet.Fernet(base64.urlsafe_b64encode(key))


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()
