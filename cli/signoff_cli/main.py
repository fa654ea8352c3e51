"""The `signoff` command: push datasets, predictions and production logs, create review campaigns, and gate CI on the verdict."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from signoff_cli.chain import ChainFormatError, chain_first_break, chain_prefix_problem
from signoff_cli.client import ApiError, Client, TransportError, api_path
from signoff_cli.results import results_text
from signoff_cli.resumable import Meter, send_resumable

EXIT_APPROVED, EXIT_REJECTED, EXIT_PENDING, EXIT_ERROR = 0, 1, 2, 3
EXIT_OK, EXIT_BROKEN = 0, 1  # chain verify
GATE_EXIT = {"approved": EXIT_APPROVED, "rejected": EXIT_REJECTED, "pending": EXIT_PENDING, "none": EXIT_PENDING}
UPLOAD_POLL_SECONDS = 1.0
# Each verdict carries its evidence (the campaign's results at sign-off, tens of kB): pages smaller than the list default.
VERDICT_PAGE_SIZE = 100
# Larger files go as a resumable upload (tus) in chunks; SIGNOFF_RESUMABLE_ABOVE_BYTES sets the threshold.
RESUMABLE_ABOVE_BYTES = int(os.environ.get("SIGNOFF_RESUMABLE_ABOVE_BYTES", str(16 * 1024 * 1024)))


class Failure(Exception):
    """A local problem (unreadable file, bad JSON, missing settings): reported as `error: ...`, exit 3."""


def err(message: str) -> None:
    print(message, file=sys.stderr)


def report_api_error(exc: ApiError) -> None:
    err(f"error: {exc.message}")
    # Upload errors list the offending lines so a CI log points straight at the bad row.
    filename = exc.extra.get("file") or "file"
    for row in exc.extra.get("errors") or []:
        field = (f", column {row['column']}" if row.get("column") else "") + (
            f", field {row['field']}" if row.get("field") else ""
        )
        err(f"  {filename} line {row.get('line')}{field}: {row.get('message')}")


def emit(args: argparse.Namespace, result: Any, summary: str) -> None:
    print(json.dumps(result, indent=2) if args.json else summary)


def ensure_created(client: Client, path: str, body: dict, exists_code: str, what: str) -> None:
    """Create something unless it already exists: --create must be safe to run on every CI build."""
    try:
        client.request("POST", path, body=body)
        err(f"created {what}")
    except ApiError as exc:
        if exc.status != 409 or exc.code != exists_code:
            raise
        err(f"{what} already exists")


def upload(client: Client, path: str, filename: str, fields: dict[str, str], metadata: dict[str, str]) -> dict:
    """Send a file: small ones in one request, large ones as a resumable upload in chunks. A large file is
    ingested in the background (202), so follow its progress until it is done."""
    meter = Meter()
    try:
        size = os.path.getsize(filename)
        if size > RESUMABLE_ABOVE_BYTES:
            status_url = send_resumable(client, filename, {**metadata, "filename": os.path.basename(filename)}, meter)
        else:
            with open(filename, "rb") as file:
                data = file.read()
            form: dict[str, str | tuple[str, bytes, str]] = {
                **fields,
                "file": (os.path.basename(filename), data, "application/octet-stream"),
            }
            status, body = client.request("POST", path, fields=form)
            if status != 202:
                return body
            status_url = body["status_url"]
        err("upload accepted; waiting for the server to ingest it")
    except OSError as exc:
        raise Failure(f"cannot read {filename}: {exc.strerror}") from None
    while True:
        _, state = client.follow(status_url)
        if state["status"] == "ready":
            meter.show(f"ingested: {state['progress']['rows']:,} rows", final=True)
            return state["result"]
        if state["status"] == "failed":
            error = state.get("error") or {}
            raise ApiError(None, error.get("message", "ingest failed"), error.get("code", "error"), error.get("extra"))
        progress = state.get("progress") or {}
        if state["status"] == "queued":
            meter.show("waiting for a worker")
        elif progress.get("phase") == "saving":
            meter.show(f"saving {progress.get('rows', 0):,} rows")
        else:
            pace = progress.get("rows_per_second")
            left = progress.get("seconds_left")
            meter.show(
                f"reading: {progress.get('rows', 0):,} rows ({100 * (progress.get('fraction') or 0):.0f}%)"
                + (f" · {pace:,.0f} rows/s" if pace else "")
                + (f" · {left:.0f} s left" if left is not None else "")
            )
        time.sleep(UPLOAD_POLL_SECONDS)


def cmd_push_dataset(client: Client, args: argparse.Namespace) -> int:
    if args.create:
        body = {"name": args.name, "description": args.description}
        ensure_created(client, api_path("datasets"), body, "dataset_exists", f"dataset {args.name}")
    result = upload(
        client,
        api_path("datasets", args.name, "versions"),
        args.file,
        {},
        {"kind": "dataset_version", "dataset": args.name},
    )
    emit(
        args,
        result,
        f"dataset {args.name} version {result['version']}: {result['items']} items (sha256 {result['sha256']})",
    )
    return 0


def cmd_push_predictions(client: Client, args: argparse.Namespace) -> int:
    if args.create:
        ensure_created(client, api_path("models"), {"name": args.model}, "model_exists", f"model {args.model}")
        body = {"version": args.version, **({"git_sha": args.git_sha} if args.git_sha else {})}
        ensure_created(
            client,
            api_path("models", args.model, "versions"),
            body,
            "model_version_exists",
            f"model {args.model} version {args.version}",
        )
    fields = {"dataset": args.dataset, "dataset_version": str(args.dataset_version)}
    result = upload(
        client,
        api_path("models", args.model, "versions", args.version, "predictions"),
        args.file,
        fields,
        {"kind": "prediction_set", "model": args.model, "version": args.version, **fields},
    )
    emit(
        args,
        result,
        f"model {args.model} version {args.version}: {result['predictions']} predictions on "
        f"dataset {args.dataset} version {args.dataset_version} "
        f"(prediction set {result['prediction_set']}, sha256 {result['sha256']})",
    )
    return 0


def cmd_push_logs(client: Client, args: argparse.Namespace) -> int:
    result = upload(
        client,
        api_path("models", args.model, "versions", args.version, "logs"),
        args.file,
        {},
        {"kind": "log_batch", "model": args.model, "version": args.version},
    )
    emit(
        args,
        result,
        f"model {args.model} version {args.version}: {result['logs']} production logs "
        f"(batch {result['batch']}, sha256 {result['sha256']})",
    )
    return 0


def cmd_campaign_create(client: Client, args: argparse.Namespace) -> int:
    source = args.spec
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        spec = json.loads(text)
    except OSError as exc:
        raise Failure(f"cannot read {source}: {exc.strerror}") from None
    except ValueError as exc:
        raise Failure(f"{'stdin' if source == '-' else source} is not valid JSON: {exc}") from None
    _, result = client.request("POST", api_path("campaigns"), body=spec)
    emit(args, result, f"campaign {result['id']}: {result['tasks']} tasks")
    return 0


def cmd_campaign_list(client: Client, args: argparse.Namespace) -> int:
    decided = {"yes": "true", "no": "false"}.get(args.decided or "")
    campaigns = client.list_all(
        api_path("campaigns"),
        search=args.search,
        status=args.status,
        kind=args.kind,
        model=args.model,
        dataset=args.dataset,
        decided=decided,
    )
    emit(args, campaigns, "\n".join(f"{c['id']}\t{c['status']}\t{c['kind']}\t{c['name']}" for c in campaigns))
    return 0


def describe_verdict(client: Client, path: str, verdict: dict) -> str:
    """The gate answers a narrow verdict (id, decision, hash, signed_at); who signed and why is evidence, asked for
    once, when there is a verdict to describe. A token that may not read it still gets the decision and hash."""
    try:
        _, full = client.request("GET", path + "?evidence=1")
        verdict = full.get("verdict") or verdict
    except (ApiError, TransportError):
        pass
    if "signer" not in verdict:
        return f"verdict: {verdict['decision']} (hash {verdict['hash']})"
    rationale = " ".join(str(verdict.get("rationale", "")).split())  # one line, whatever the approver typed
    return f"verdict: {verdict['decision']} by {verdict['signer']}: {rationale}"


def gate_line(gate: dict) -> str:
    return f"{gate['model']} {gate['version']}: {gate['status']} (stage {gate['stage']})"


def cmd_gate_status(client: Client, args: argparse.Namespace) -> int:
    path = api_path("gate", args.model, args.version)
    _, gate = client.request("GET", path)
    if args.json:
        print(json.dumps(gate, indent=2))
    else:
        print(gate_line(gate))
        if gate.get("verdict"):
            print(describe_verdict(client, path, gate["verdict"]))
    return GATE_EXIT.get(gate["status"], EXIT_ERROR)


def is_transient(exc: ApiError | TransportError) -> bool:
    """Worth retrying while waiting: network trouble, a restarting server or proxy, rate limiting.
    Anything else (bad token, no such model, ...) will not fix itself, so waiting would only hide it."""
    return isinstance(exc, TransportError) or exc.status is None or exc.status >= 500 or exc.status == 429


def cmd_gate_wait(client: Client, args: argparse.Namespace) -> int:
    path = api_path("gate", args.model, args.version)
    deadline = time.monotonic() + args.timeout
    gate: dict | None = None
    last_error: Exception | None = None
    while True:
        remaining = deadline - time.monotonic()
        try:
            # A hung request must not hold the job far past --timeout.
            _, answer = client.request("GET", path, timeout=max(1.0, min(30.0, remaining)))
        except (ApiError, TransportError) as exc:
            if not is_transient(exc):
                raise
            last_error = exc
            err(f"warning: {exc}; retrying")
        else:
            last_error = None
            if not args.json and (gate is None or answer["status"] != gate["status"]):
                print(gate_line(answer))
            gate = answer
            if gate["status"] in ("approved", "rejected"):
                if args.json:
                    print(json.dumps(gate, indent=2))
                elif gate.get("verdict"):
                    print(describe_verdict(client, path, gate["verdict"]))
                return GATE_EXIT[gate["status"]]
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(args.interval, remaining))
    if gate is None:
        raise last_error or Failure("no answer from the server")  # never saw a status: an error, not "pending"
    if args.json:
        print(json.dumps(gate, indent=2))
    err(f"timed out after {args.timeout:g}s: {args.model} {args.version} is still {gate['status']}")
    return EXIT_PENDING


def chain_checked_here(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    """Fetch every verdict and check the chain on this machine: the server's own check is its word, this is not."""
    verdicts = client.list_all(api_path("verdicts"), page_size=VERDICT_PAGE_SIZE)
    try:
        broken = chain_first_break(verdicts)
    except ChainFormatError as exc:
        raise Failure(f"cannot check the chain: {exc}") from None
    problem = str(broken) if broken else None
    if problem is None and args.head:
        problem = chain_prefix_problem(verdicts, head=args.head, count=args.count)
    return {
        "ok": problem is None,
        "count": len(verdicts),
        "head": str(verdicts[-1].get("hash", "")) if verdicts else "",
        "broken_at": broken.verdict_id if broken else None,
        "position": broken.position if broken else None,
        "reason": problem or "",
    }


def cmd_chain_verify(client: Client, args: argparse.Namespace) -> int:
    if (args.head is None) != (args.count is None):
        raise Failure("give --head and --count together: the head and length of the chain you saw before")
    if args.count is not None and args.count < 1:
        raise Failure("--count must be 1 or more: the number of verdicts an earlier run printed")
    if args.head is not None and not re.fullmatch(r"[0-9a-f]{64}", args.head):
        raise Failure(
            f"--head {args.head!r} is not a verdict hash (64 lowercase hex digits, as an earlier run printed)"
        )
    here = chain_checked_here(client, args)
    query = f"?{urlencode({'head': args.head, 'count': args.count})}" if args.head else ""
    _, chain = client.request("GET", api_path("verdicts", "verify") + query)
    ok = bool(chain["ok"]) and here["ok"]
    if args.json:
        # the server's answer as before, `ok` only when both checks hold, and this machine's check beside it
        print(json.dumps({**chain, "ok": ok, "checked_here": here}, indent=2))
    else:
        print_chain(chain, here)
    return EXIT_OK if ok else EXIT_BROKEN


def print_chain(chain: dict[str, Any], here: dict[str, Any]) -> None:
    """The server's check first (as before this machine checked too), then this machine's, then what to keep."""
    if chain["ok"]:
        print(f"verdict chain holds: {plural(chain['count'], 'verdict')}, head {chain['head'] or '(none)'}")
    else:
        where = f" (first broken verdict: {chain['broken_at']})" if chain.get("broken_at") else ""
        print(f"verdict chain BROKEN{where}: {chain['reason']}")
    if not here["ok"]:
        print(f"verdict chain BROKEN here: {here['reason']}")
        return
    print(f"checked here too: {plural(here['count'], 'verdict')}, every hash recomputed and every link followed")
    if chain["ok"] and here["count"]:
        # what the next run should hold the server to: the chain as this machine checked it
        print(f"next time: signoff chain verify --head {here['head']} --count {here['count']}")


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def cmd_results(client: Client, args: argparse.Namespace) -> int:
    _, results = client.request("GET", api_path("campaigns", args.campaign, "results"))
    emit(args, results, results_text(results))
    return EXIT_OK


class Parser(argparse.ArgumentParser):
    def error(self, message: str):
        # argparse exits 2 on bad usage, but 2 means "still pending" to `gate wait` callers.
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be zero or more seconds")
    return value


def positive_seconds(text: str) -> float:
    value = seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be more than zero seconds")
    return value


def campaign_id(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a campaign id (a whole number; see `signoff campaign list`)")
    return int(text)


def build_parser() -> Parser:
    parser = Parser(
        prog="signoff",
        description="Talk to a Signoff server from CI: upload datasets and predictions, start review campaigns, "
        "wait for the human verdict on a model version, read a campaign's figures and check the verdict chain.",
        epilog="environment:\n"
        "  SIGNOFF_URL    server base URL, e.g. https://signoff.example.com (or --url)\n"
        "  SIGNOFF_TOKEN  API token, sent as 'Authorization: Token ...' (or --token)\n\n"
        "exit codes:\n"
        "  0  success / approved / the verdict chain holds\n"
        "  1  rejected (gate commands); broken verdict chain (chain verify)\n"
        "  2  still pending, or no campaign, when the gate command ends\n"
        "  3  error: network, authentication, not found, invalid data or arguments",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", help="server base URL (overrides SIGNOFF_URL)")
    parser.add_argument("--token", help="API token (overrides SIGNOFF_TOKEN)")
    parser.add_argument("--json", action="store_true", help="print the server's JSON answer instead of a summary")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def json_flag(sub: argparse.ArgumentParser) -> None:
        # Also accepted after the subcommand; SUPPRESS keeps `signoff --json ...` from being reset to False.
        sub.add_argument(
            "--json",
            action="store_true",
            default=argparse.SUPPRESS,
            help="print the server's JSON answer instead of a summary",
        )

    push = commands.add_parser(
        "push",
        help="upload a dataset version, or a model version's predictions or production logs",
        description="Upload JSONL or CSV files. Identical content is not stored twice: "
        "the existing version is reported instead. Files over 16 MB go "
        "in resumable chunks (tus): run the same command again after an "
        "interruption and it resumes. Progress goes to stderr.",
    )
    push_kinds = push.add_subparsers(dest="kind", required=True, metavar="KIND")

    dataset = push_kinds.add_parser(
        "dataset",
        help="upload a new version of a dataset",
        description="Upload FILE (JSONL, one item a line) as the next version of dataset NAME.",
    )
    dataset.add_argument("name", metavar="NAME", help="dataset name (a slug)")
    dataset.add_argument("file", metavar="FILE", help="JSONL file of items")
    dataset.add_argument("--create", action="store_true", help="create the dataset first if it does not exist")
    dataset.add_argument("--description", default="", help="description for a dataset made by --create")
    json_flag(dataset)
    dataset.set_defaults(func=cmd_push_dataset)

    predictions = push_kinds.add_parser(
        "predictions",
        help="upload a model version's predictions on a dataset version",
        description='Upload FILE (JSONL: one {"id", "output"} a line) as the predictions of MODEL VERSION '
        "on a dataset version.",
    )
    predictions.add_argument("model", metavar="MODEL", help="registered model name")
    predictions.add_argument("version", metavar="VERSION", help="model version, e.g. 2 or 1.4.0")
    predictions.add_argument("file", metavar="FILE", help="JSONL file of predictions")
    predictions.add_argument("--dataset", required=True, help="dataset name")
    predictions.add_argument("--dataset-version", required=True, type=int, metavar="N", help="dataset version number")
    predictions.add_argument("--create", action="store_true", help="register the model and version first if needed")
    predictions.add_argument("--git-sha", default="", help="commit recorded on a version made by --create")
    json_flag(predictions)
    predictions.set_defaults(func=cmd_push_predictions)

    logs = push_kinds.add_parser(
        "logs",
        help="upload a model version's production logs",
        description='Upload FILE (JSONL: one {"input", "output", "id"?, "at"?, "tags"?} a line) as production logs of '
        "MODEL VERSION. The same file again is reported as the batch it made.",
    )
    logs.add_argument("model", metavar="MODEL", help="registered model name")
    logs.add_argument("version", metavar="VERSION", help="model version, e.g. 2 or 1.4.0")
    logs.add_argument("file", metavar="FILE", help="JSONL file of production logs")
    json_flag(logs)
    logs.set_defaults(func=cmd_push_logs)

    campaign = commands.add_parser("campaign", help="create and list review campaigns")
    campaign_actions = campaign.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = campaign_actions.add_parser(
        "create",
        help="create a campaign from a JSON spec",
        description="Create a review campaign. The spec is the API's JSON body: name, kind, dataset, "
        "dataset_version, candidate (model:version), baseline, reviewers, overlap, gate, ... "
        "For the server's JSON answer, put --json before the command: signoff --json campaign create ...",
    )
    create.add_argument(
        "--json", dest="spec", required=True, metavar="FILE_OR_-", help="JSON spec file, or - for stdin"
    )
    create.set_defaults(func=cmd_campaign_create)
    listing = campaign_actions.add_parser(
        "list",
        help="list campaigns (every page), optionally filtered",
        description="Print id, status, kind and name of each campaign the token may see, following the API's "
        "pages to the end.",
    )
    listing.add_argument("--search", help="part of the campaign's name")
    listing.add_argument("--status", choices=["active", "paused", "closed"])
    listing.add_argument("--kind", choices=["pairwise", "ranking", "rating", "labeling"])
    listing.add_argument("--model", help="a model's name (candidate, baseline or other)")
    listing.add_argument("--dataset", help="a dataset's name")
    listing.add_argument("--decided", choices=["yes", "no"], help="whether the gate has decided")
    json_flag(listing)
    listing.set_defaults(func=cmd_campaign_list)

    gate = commands.add_parser(
        "gate",
        help="read the release gate of a model version",
        description="The gate is approved or rejected by a signed verdict, pending while a "
        "campaign runs, none otherwise. Exit 0 approved, 1 rejected, 2 pending/none, 3 error.",
    )
    gate_actions = gate.add_subparsers(dest="action", required=True, metavar="ACTION")
    status = gate_actions.add_parser(
        "status",
        help="print the gate once",
        description="Print the gate of MODEL VERSION. Exit 0 approved, 1 rejected, 2 pending or none, 3 error.",
    )
    wait = gate_actions.add_parser(
        "wait",
        help="poll the gate until a verdict or a timeout",
        description="Poll the gate of MODEL VERSION until it is approved (exit 0) or "
        "rejected (exit 1); exit 2 if still pending at --timeout, 3 on an "
        "error. Connection errors and 5xx answers are retried until the "
        "timeout; authentication errors and unknown models are not.",
    )
    for sub in (status, wait):
        sub.add_argument("model", metavar="MODEL", help="registered model name")
        sub.add_argument("version", metavar="VERSION", help="model version")
        json_flag(sub)
    wait.add_argument("--timeout", type=seconds, required=True, metavar="SECONDS", help="give up after this long")
    wait.add_argument(
        "--interval", type=positive_seconds, default=5.0, metavar="SECONDS", help="time between polls (default 5)"
    )
    status.set_defaults(func=cmd_gate_status)
    wait.set_defaults(func=cmd_gate_wait)

    chain = commands.add_parser(
        "chain", help="check the verdict hash chain", description="Every verdict carries the hash of the one before it."
    )
    chain_actions = chain.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = chain_actions.add_parser(
        "verify",
        help="check the verdict chain, here and on the server",
        description="Fetch every verdict (approver or admin token) and check the chain on this machine: each "
        "verdict's hash is recomputed from its content and each must link to the hash of the one before it, so a "
        "server that misreports its own check is caught too; then ask the server to run its check (which also "
        "compares the chain with the anchors it keeps). With --head and --count (saved from an earlier run: it "
        "prints them), also check that the chain still starts with those COUNT verdicts ending in HEAD: a chain "
        "rewritten or cut inside the server's database cannot hide from a copy kept outside it. Exit 0 when both "
        "checks hold, 1 when either finds the chain broken or no longer containing what you saw (the first "
        "broken verdict is named), 3 on an error.",
    )
    verify.add_argument("--head", metavar="HASH", help="the head hash an earlier run printed")
    verify.add_argument("--count", type=int, metavar="N", help="the verdict count an earlier run printed")
    json_flag(verify)
    verify.set_defaults(func=cmd_chain_verify)

    results = commands.add_parser(
        "results",
        help="print a campaign's figures",
        description="Print the figures of campaign CAMPAIGN (its id: `signoff campaign list` shows it): the gate, "
        "the candidate's win rate with its interval, agreement, and each kind's own figures; --json prints the "
        "server's whole answer. Data scientist, approver or admin token. Exit 0, or 3 on an error.",
    )
    results.add_argument("campaign", metavar="CAMPAIGN", type=campaign_id, help="campaign id")
    json_flag(results)
    results.set_defaults(func=cmd_results)
    return parser


def main(argv: list[str] | None = None) -> int:
    # CI logs should show each status line as it happens, not when the buffer fills.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    parser = build_parser()
    args = parser.parse_args(argv)
    url: str = args.url or os.environ.get("SIGNOFF_URL") or ""
    token: str = args.token or os.environ.get("SIGNOFF_TOKEN") or ""
    if not url:
        parser.error("no server: set SIGNOFF_URL or pass --url")
    if not token:
        parser.error("no token: set SIGNOFF_TOKEN or pass --token")
    try:
        return args.func(Client(url, token), args)
    except ApiError as exc:
        report_api_error(exc)
    except (TransportError, Failure) as exc:
        err(f"error: {exc}")
    except KeyboardInterrupt:
        err("interrupted")
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
