"""MLflow's documented REST API (/api/2.0/mlflow/...) over urllib3: the few calls Signoff makes, and the line between
an error worth retrying (unreachable, 5xx, 429) and one that is not (any other 4xx).

Not the mlflow package: it would bring ~60 packages (pandas, pyarrow, sqlalchemy, alembic, flask ...) into every web
and worker process for six HTTP calls."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import urllib3

API = "/api/2.0/mlflow"
PAGE_SIZE = 1000  # versions a page: small enough to keep each answer quick (MLflow allows up to 200,000)


class MlflowError(Exception):
    def __init__(self, message: str, *, transient: bool, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.transient = transient  # worth trying again later
        self.status = status


@dataclass(frozen=True)
class RemoteVersion:
    name: str
    version: str
    source: str
    run_id: str
    created_ms: int


@dataclass(frozen=True)
class RunData:
    params: dict[str, str]
    metrics: dict[str, float]
    git_sha: str


class MlflowRest:
    def __init__(self, *, base_url: str, token: str = "", timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self._headers = {"Content-Type": "application/json", "User-Agent": "Signoff-MLflow/1.0"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._pool = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=min(timeout, 5.0), read=timeout), retries=False
        )

    def _call(self, method: str, path: str, *, fields: dict | None = None, body: dict | None = None) -> dict:
        url = f"{self.base_url}{API}/{path}"
        try:
            response = self._pool.request(
                method, url, fields=fields, body=orjson.dumps(body) if body is not None else None, headers=self._headers
            )
        except urllib3.exceptions.HTTPError as exc:
            raise MlflowError(f"MLflow at {self.base_url} is unreachable: {exc}", transient=True) from None
        if response.status >= 400:
            detail = _error_message(response.data)
            raise MlflowError(
                f"MLflow answered {response.status} to {method} {path}: {detail}",
                transient=response.status >= 500 or response.status == 429,
                status=response.status,
            )
        return orjson.loads(response.data or b"{}")

    def model_version(self, *, name: str, version: str) -> RemoteVersion:
        found = self._call("GET", "model-versions/get", fields={"name": name, "version": version})
        return _remote_version(found["model_version"])

    def model_versions(self) -> Iterator[RemoteVersion]:
        """Every version of every registered model, page by page."""
        token = ""
        while True:
            fields = {"max_results": str(PAGE_SIZE), **({"page_token": token} if token else {})}
            page = self._call("GET", "model-versions/search", fields=fields)
            yield from (_remote_version(v) for v in page.get("model_versions", []))
            token = page.get("next_page_token", "")
            if not token:
                return

    def run_data(self, *, run_id: str) -> RunData:
        data = self._call("GET", "runs/get", fields={"run_id": run_id})["run"].get("data", {})
        tags = {t["key"]: t.get("value", "") for t in data.get("tags", [])}
        return RunData(
            params={p["key"]: p.get("value", "") for p in data.get("params", [])},
            metrics={m["key"]: m["value"] for m in data.get("metrics", [])},  # runs/get holds each metric's latest
            git_sha=tags.get("mlflow.source.git.commit", "")[:64],
        )

    def set_version_tag(self, *, name: str, version: str, key: str, value: str) -> None:
        self._call(
            "POST", "model-versions/set-tag", body={"name": name, "version": version, "key": key, "value": value}
        )

    def set_alias(self, *, name: str, alias: str, version: str) -> None:
        self._call("POST", "registered-models/alias", body={"name": name, "alias": alias, "version": version})


def _remote_version(raw: dict[str, Any]) -> RemoteVersion:
    return RemoteVersion(
        name=raw["name"],
        version=str(raw["version"]),
        source=raw.get("source", ""),
        run_id=raw.get("run_id", "") or "",
        created_ms=int(raw.get("creation_timestamp", 0)),
    )


def _error_message(data: bytes) -> str:
    try:
        return str(orjson.loads(data).get("message", ""))[:500] or data[:200].decode(errors="replace")
    except (orjson.JSONDecodeError, AttributeError):
        return data[:200].decode(errors="replace")
