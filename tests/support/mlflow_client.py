"""The test side's MLflow client: what a training job and an operator do to the tracking server, over MLflow's
documented REST API 2.0 (/api/2.0/mlflow/...), with the stdlib.

Not `mlflow.MlflowClient`: mlflow lives in its own venv (.venv-mlflow, see requirements/mlflow.in), outside the app's
dependency graph. Not the app's own client (integrations/mlflow/rest.py) either: the tests check that one against
this, so they must not share code. Method names and return shapes follow MlflowClient's, so the tests read the same.
"""

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

API = "/api/2.0/mlflow"


class MlflowApiError(Exception):
    """MLflow answered a call with an error: the method, path and MLflow's own answer say what and where."""


@dataclass(frozen=True)
class RunInfo:
    run_id: str


@dataclass(frozen=True)
class Run:
    info: RunInfo


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: str
    source: str
    run_id: str
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ModelVersion":
        tags = {tag["key"]: tag.get("value", "") for tag in data.get("tags", [])}
        return cls(data["name"], data["version"], data.get("source", ""), data.get("run_id", ""), tags)


@dataclass(frozen=True)
class Webhook:
    webhook_id: str


class MlflowTestClient:
    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict | None = None, query: dict | None = None) -> dict:
        url = f"{self.base_url}{API}/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            raise MlflowApiError(f"{method} {API}/{path}: HTTP {exc.code}: {exc.read().decode()[:500]}") from None
        return json.loads(text) if text.strip() else {}

    # --- registered models and runs: what a training job does ---

    def search_registered_models(self, filter_string: str) -> list[dict]:
        return self._call("GET", "registered-models/search", query={"filter": filter_string}).get(
            "registered_models", []
        )

    def create_registered_model(self, name: str) -> dict:
        return self._call("POST", "registered-models/create", {"name": name})["registered_model"]

    def create_run(self, experiment_id: str) -> Run:
        run = self._call("POST", "runs/create", {"experiment_id": experiment_id, "start_time": _now_ms()})["run"]
        return Run(RunInfo(run["info"]["run_id"]))

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        self._call("POST", "runs/log-parameter", {"run_id": run_id, "key": key, "value": str(value)})

    def log_metric(self, run_id: str, key: str, value: float) -> None:
        body = {"run_id": run_id, "key": key, "value": value, "timestamp": _now_ms(), "step": 0}
        self._call("POST", "runs/log-metric", body)

    def set_terminated(self, run_id: str, status: str = "FINISHED") -> None:
        self._call("POST", "runs/update", {"run_id": run_id, "status": status, "end_time": _now_ms()})

    # --- model versions ---

    def create_model_version(self, name: str, source: str, run_id: str | None = None) -> ModelVersion:
        body = {"name": name, "source": source, **({"run_id": run_id} if run_id else {})}
        return ModelVersion.from_json(self._call("POST", "model-versions/create", body)["model_version"])

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        answer = self._call("GET", "model-versions/get", query={"name": name, "version": version})
        return ModelVersion.from_json(answer["model_version"])

    def delete_model_version(self, name: str, version: str) -> None:
        self._call("DELETE", "model-versions/delete", {"name": name, "version": version})

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        answer = self._call("GET", "registered-models/alias", query={"name": name, "alias": alias})
        return ModelVersion.from_json(answer["model_version"])

    # --- webhooks (MLflow 3.3+): events as "entity.action", as MlflowClient takes them ---

    def create_webhook(self, *, name: str, url: str, events: list[str], secret: str) -> Webhook:
        pairs = [event.split(".", 1) for event in events]
        body = {
            "name": name,
            "url": url,
            "events": [{"entity": entity.upper(), "action": action.upper()} for entity, action in pairs],
            "secret": secret,
        }
        return Webhook(self._call("POST", "webhooks", body)["webhook"]["webhook_id"])

    def delete_webhook(self, webhook_id: str) -> None:
        self._call("DELETE", f"webhooks/{urllib.parse.quote(webhook_id)}")


def _now_ms() -> int:
    return int(time.time() * 1000)
