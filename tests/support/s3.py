"""A real S3-API server on loopback for the tests (moto's server mode, in a process of its own), and a bucket per
test pointed at by SIGNOFF_STORAGE_URL."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

# moto takes any credentials; the app and its workers find them where production puts them, in the environment.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "signoff-test", "AWS_SECRET_ACCESS_KEY": "signoff-test-secret"}
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class S3Server:
    endpoint: str

    def client(self) -> Any:  # a boto3 S3 client
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def new_bucket(self) -> "Bucket":
        name = f"signoff-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return Bucket(self, name)


@dataclass
class Bucket:
    server: S3Server
    name: str

    @property
    def storage_url(self) -> str:
        return f"s3://{self.name}?endpoint={self.server.endpoint}&region={REGION}"

    def object_keys(self, prefix: str = "") -> list[str]:
        pages = self.server.client().get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.server.client().get_object(Bucket=self.name, Key=key)["Body"].read()


@contextmanager
def moto_s3_server() -> Iterator[S3Server]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.1)
        yield S3Server(endpoint)
    finally:
        process.terminate()
        process.wait(timeout=10)


def media_files(root: str) -> list[str]:
    """Every file under MEDIA_ROOT: with an S3 storage there must be none."""
    return [os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names]
