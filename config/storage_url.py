"""SIGNOFF_STORAGE_URL -> the STORAGES["default"] entry: local disk when empty, an S3-API bucket for s3://."""

from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ImproperlyConfigured

FILESYSTEM = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
# An S3 object read by the app (an upload being ingested, an image being served) is spooled in memory up to this
# size, then in a temporary file: a 10 GB upload must not sit in a worker's memory.
S3_SPOOL_MAX_MEMORY = 16 * 1024 * 1024


def default_storage_from_url(url: str) -> dict:
    """`s3://bucket?endpoint=http://127.0.0.1:9000&region=eu-west-1&prefix=signoff&addressing=path`.

    Credentials are never part of the URL: boto3 reads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or an instance
    role) from the environment."""
    if not url:
        return dict(FILESYSTEM)
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.path not in ("", "/"):
        raise ImproperlyConfigured(f"SIGNOFF_STORAGE_URL must look like s3://bucket?endpoint=...; got {url!r}.")
    if parts.username or parts.password:
        raise ImproperlyConfigured("SIGNOFF_STORAGE_URL must not carry credentials: use AWS_ACCESS_KEY_ID and friends.")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    unknown = set(query) - {"endpoint", "region", "prefix", "addressing"}
    if unknown:
        raise ImproperlyConfigured(f"SIGNOFF_STORAGE_URL has unknown options: {', '.join(sorted(unknown))}.")
    endpoint = query.get("endpoint") or None
    options = {
        "bucket_name": parts.netloc,
        "endpoint_url": endpoint,
        "region_name": query.get("region") or None,
        "location": query.get("prefix", "").strip("/"),
        # Like FileSystemStorage, a name already taken gets a new one instead of replacing what is there.
        "file_overwrite": False,
        "default_acl": None,  # the bucket's own policy; objects are never public, the app serves them
        "max_memory_size": S3_SPOOL_MAX_MEMORY,
        # Self-hosted stores (MinIO, moto) answer on one host name, not on bucket.host.
        "addressing_style": query.get("addressing") or ("path" if endpoint else None),
    }
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
