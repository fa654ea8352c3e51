"""`signoff push` of a large file: chunks over tus, a connection cut mid-chunk, resumed, ingested whole."""

import contextlib
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
from knox.models import AuthToken

from datasets.models import DatasetVersion, Item, Upload
from tests.factories import jsonl
from tests.support.worker import celery_worker

pytestmark = pytest.mark.django_db(transaction=True)
REPO_ROOT = Path(__file__).resolve().parent.parent


class CuttingProxy:
    """Forwards TCP to the live server, and once, after `cut_after` request bytes, drops the connection."""

    def __init__(self, target_port: int, cut_after: int):
        self.target_port, self.cut_after = target_port, cut_after
        self.sent, self.cuts = 0, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source, sink, counting):
        try:
            while data := source.recv(65536):
                if counting:
                    self.sent += len(data)
                    if not self.cuts and self.sent > self.cut_after:
                        self.cuts += 1
                        sink.sendall(data[: len(data) // 2])
                        for s in (source, sink):
                            s.shutdown(socket.SHUT_RDWR)
                            s.close()
                        return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.close()

    def close(self):
        self.listener.close()


def test_push_resumes_after_the_connection_drops_mid_upload(live_server, users, api, tmp_path, settings):
    settings.SIGNOFF_SYNC_UPLOAD_MAX_BYTES = 1024
    rows = [{"id": f"item-{n:06d}", "input": f"a question of some length, number {n}"} for n in range(40_000)]
    path = tmp_path / "items.jsonl"
    path.write_bytes(jsonl(rows))
    size = path.stat().st_size
    proxy = CuttingProxy(urlparse(live_server.url).port, cut_after=size // 2)
    env = {
        **os.environ,
        "SIGNOFF_URL": f"http://127.0.0.1:{proxy.port}",
        "SIGNOFF_TOKEN": AuthToken.objects.create(user=users["ds"])[1],
        "SIGNOFF_RESUMABLE_ABOVE_BYTES": "1000",
        "SIGNOFF_CHUNK_BYTES": str(256 * 1024),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    try:
        with celery_worker():
            result = subprocess.run(
                [sys.executable, "-m", "signoff_cli.main", "push", "dataset", "big", str(path), "--create"],
                check=False,  # the exit code and output are asserted below
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
                cwd=REPO_ROOT,
            )
    finally:
        proxy.close()
    assert result.returncode == 0, result.stderr
    assert proxy.cuts == 1
    assert "connection trouble" in result.stderr and "sending: " in result.stderr and "(100%)" in result.stderr
    assert f"ingested: {len(rows):,} rows" in result.stderr
    assert f"dataset big version 1: {len(rows)} items" in result.stdout
    assert DatasetVersion.objects.get().item_count == len(rows) == Item.objects.count()
    assert Upload.objects.get().status == Upload.Status.READY
    assert list(Item.objects.order_by("id").values_list("external_id", flat=True)[:3]) == [
        "item-000000",
        "item-000001",
        "item-000002",
    ]
    assert (tmp_path / "cache" / "signoff" / "uploads.json").read_text().strip() == "{}"  # nothing left to resume
