"""`signoff push` for large files: a tus 1.0.0 upload in chunks that survives dropped connections and restarts.

Where each file's upload lives on the server is remembered in ~/.cache/signoff/uploads.json, so running the
same command again after a crash resumes it instead of starting over."""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from signoff_cli.client import ApiError, Client, TransportError, raw_request

CHUNK_BYTES = int(os.environ.get("SIGNOFF_CHUNK_BYTES", str(8 * 1024 * 1024)))
MAX_RETRIES = 12
TUS = {"Tus-Resumable": "1.0.0"}


def state_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "signoff" / "uploads.json"


def _load_state() -> dict[str, str]:
    try:
        return json.loads(state_path().read_text())
    except (OSError, ValueError):
        return {}


def _save_state(state: dict[str, str]) -> None:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(path)


class Meter:
    """One progress line on stderr: rewritten in place on a terminal, a line every few seconds in a CI log."""

    def __init__(self, stream=sys.stderr):
        self.stream, self.tty = stream, stream.isatty()
        self._last = 0.0

    def show(self, text: str, final: bool = False) -> None:
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r\033[K" + text + ("\n" if final else ""))
            self.stream.flush()
        elif final or now - self._last >= 5:
            self._last = now
            print(text, file=self.stream, flush=True)


def _size(n: float) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def _left(seconds: float | None) -> str:
    if seconds is None:
        return "estimating"
    return f"{seconds:.0f} s left" if seconds < 90 else f"{seconds / 60:.0f} min left"


def send_resumable(
    client: Client, filename: str, metadata: dict[str, str], meter: Meter, sleep: Callable[[float], None] = time.sleep
) -> str:
    """Send the file; returns the upload's URL (its status URL). Resumes a previous attempt of the same file."""
    stat = os.stat(filename)
    key = "|".join(
        [
            client.base_url,
            os.path.abspath(filename),
            str(stat.st_size),
            str(stat.st_mtime_ns),
            json.dumps(metadata, sort_keys=True),
        ]
    )
    state = _load_state()
    url, offset = state.get(key), 0
    if url:
        try:
            offset = int(raw_request(client, "HEAD", url, TUS).headers["Upload-Offset"])
            meter.show(f"resuming at {_size(offset)} of {_size(stat.st_size)}", final=True)
        except (ApiError, KeyError, ValueError):
            url = None  # gone or finished: start again
    if not url:
        encoded = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in metadata.items())
        created = raw_request(
            client, "POST", "/api/v1/uploads/", {**TUS, "Upload-Length": str(stat.st_size), "Upload-Metadata": encoded}
        )
        url = created.headers["Location"]
        state[key] = url
        _save_state(state)
    started, sent_at_start, retries = time.monotonic(), offset, 0
    with open(filename, "rb") as file:
        while offset < stat.st_size:
            file.seek(offset)
            chunk = file.read(CHUNK_BYTES)
            try:
                answer = raw_request(
                    client,
                    "PATCH",
                    url,
                    {**TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
                    body=chunk,
                )
                offset, retries = int(answer.headers["Upload-Offset"]), 0
            except ApiError as exc:
                if exc.code == "offset_mismatch":
                    offset = int(exc.extra["offset"])
                    continue
                if exc.status is not None and exc.status < 500 and exc.status != 429:
                    _forget(key)
                    raise
                offset = _wait_and_ask(client, url, exc, retries, meter, sleep)
                retries += 1
            except TransportError as exc:
                offset = _wait_and_ask(client, url, exc, retries, meter, sleep)
                retries += 1
            elapsed = time.monotonic() - started
            rate = (offset - sent_at_start) / elapsed if elapsed > 0 else 0
            eta = (stat.st_size - offset) / rate if rate else None
            meter.show(
                f"sending: {_size(offset)} of {_size(stat.st_size)} ({100 * offset / stat.st_size:.0f}%) · "
                f"{_size(rate)}/s · {_left(eta)}",
                final=offset >= stat.st_size,
            )
    _forget(key)
    return url


def _wait_and_ask(client: Client, url: str, exc: Exception, retries: int, meter: Meter, sleep) -> int:
    """After a failed chunk: back off, then ask the server how much it kept."""
    if retries >= MAX_RETRIES:
        raise exc
    delay = min(30.0, 2.0**retries)
    meter.show(f"connection trouble ({exc}); resuming in {delay:.0f} s", final=True)
    sleep(delay)
    while True:
        try:
            return int(raw_request(client, "HEAD", url, TUS).headers["Upload-Offset"])
        except TransportError:
            retries += 1
            if retries >= MAX_RETRIES:
                raise
            sleep(min(30.0, 2.0**retries))


def _forget(key: str) -> None:
    state = _load_state()
    if state.pop(key, None) is not None:
        _save_state(state)
