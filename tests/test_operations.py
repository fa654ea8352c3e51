"""Operations: heartbeats of the worker and beat, /healthz that believes only fresh ones, the admins' banner,
one beat per schedule file, and `make run`'s supervisor (restarts what dies, leaves nothing behind)."""

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import urllib3
from django.test import Client
from django.utils import timezone

from core.models import Heartbeat
from tests.support.worker import BASE_DIR, celery_worker, worker_environment


def beat_seen(seconds_ago: float, component: str = Heartbeat.Component.BEAT, pid: int = 1) -> None:
    Heartbeat.objects.update_or_create(
        component=component, defaults={"seen_at": timezone.now() - timedelta(seconds=seconds_ago), "pid": pid}
    )


def wait_for(condition, timeout: float, message=lambda: "timed out"):
    """The condition's first truthy value; `message` is called only on failure (it may read a log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(message() if callable(message) else message)


# /healthz and /livez


@pytest.mark.django_db
def test_healthz_is_ok_when_worker_and_beat_were_seen_recently(client):
    beat_seen(5, Heartbeat.Component.WORKER)
    beat_seen(45, Heartbeat.Component.BEAT)
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == body["database"] == body["broker"] == body["worker"] == body["beat"] == "ok"
    assert 4 < body["heartbeats"]["worker"]["age_seconds"] < 10


@pytest.mark.django_db
def test_healthz_answers_503_naming_the_worker_when_its_heartbeat_is_61_seconds_old(client):
    beat_seen(61, Heartbeat.Component.WORKER)
    beat_seen(1, Heartbeat.Component.BEAT)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error" and body["beat"] == "ok"
    assert body["worker"].startswith("error: last seen 6") and body["worker"].endswith(" s ago")  # 61 s, 62 s if slow
    assert body["heartbeats"]["worker"]["age_seconds"] >= 61


@pytest.mark.django_db
def test_healthz_answers_503_naming_beat_when_its_heartbeat_is_61_seconds_old(client):
    beat_seen(1, Heartbeat.Component.WORKER)
    beat_seen(61, Heartbeat.Component.BEAT)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["worker"] == "ok" and body["beat"].startswith("error: last seen 6")


@pytest.mark.django_db
def test_healthz_answers_503_when_no_worker_or_beat_has_ever_run(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["worker"] == response.json()["beat"] == "error: never seen"


@pytest.mark.django_db
def test_livez_answers_for_the_web_process_alone(client):
    """A load balancer's check: a dead worker is /healthz's news and must not take web servers out of rotation."""
    response = client.get("/livez")
    assert response.status_code == 200 and response.json() == {"status": "ok", "database": "ok"}


# the admins' banner


def page_for(user) -> str:
    browser = Client()
    browser.force_login(user)
    response = browser.get("/campaigns/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_dead_worker_shows_a_banner_to_admins_only(users):
    beat_seen(1, Heartbeat.Component.BEAT)
    beat_seen(180, Heartbeat.Component.WORKER)
    page = page_for(users["admin"])
    assert 'id="background-banner"' in page
    assert "The worker was last seen 3\xa0minutes ago" in page and "The beat" not in page
    for role in ("ds", "reviewer", "approver"):
        assert 'id="background-banner"' not in page_for(users[role])


def test_no_banner_while_worker_and_beat_are_fresh_and_a_never_seen_beat_is_named(users):
    beat_seen(1, Heartbeat.Component.WORKER)
    beat_seen(1, Heartbeat.Component.BEAT)
    assert 'id="background-banner"' not in page_for(users["admin"])
    Heartbeat.objects.filter(component=Heartbeat.Component.BEAT).delete()
    assert "The beat has never been seen" in page_for(users["admin"])


def test_the_banner_costs_admins_one_query(users, django_assert_num_queries):
    from django.test import RequestFactory

    from core.context_processors import background_alert

    request = RequestFactory().get("/")
    request.user = users["admin"]
    alert = background_alert(request)["background_alert"]
    with django_assert_num_queries(1):
        assert [health.component for health in alert] == ["worker", "beat"]
        assert bool(alert)


# real processes


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_heartbeat_task_and_records_itself():
    with celery_worker() as worker:
        row = wait_for(
            lambda: Heartbeat.objects.filter(component=Heartbeat.Component.WORKER, pid=worker.pid).first(),
            timeout=30,
            message=lambda: "the worker recorded no heartbeat:\n" + "".join(worker.log),
        )
        assert (timezone.now() - row.seen_at).total_seconds() < 30
        assert any("core.tasks.heartbeat_worker_task" in line and "succeeded" in line for line in worker.log)


def beat_process(schedule, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "config.background", "beat", "--loglevel=INFO", "--schedule", str(schedule)],
        cwd=BASE_DIR,
        env=worker_environment(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.django_db(transaction=True)
def test_beat_records_its_heartbeat_and_a_second_beat_on_the_same_schedule_exits(tmp_path):
    first = beat_process(tmp_path / "celerybeat-schedule")
    try:
        wait_for(
            lambda: Heartbeat.objects.filter(component=Heartbeat.Component.BEAT, pid=first.pid).exists(),
            60,
            "the first beat recorded no heartbeat",
        )
        second = beat_process(tmp_path / "celerybeat-schedule")
        output, _ = second.communicate(timeout=60)
        assert second.returncode == 3, output
        assert f"held by pid {first.pid}; one beat only" in output
        assert first.poll() is None  # the running beat is untouched
    finally:
        first.terminate()
        first.wait(timeout=20)
    # the kernel released the lock with its holder: a new beat starts at once, no stale pidfile to clear
    third = beat_process(tmp_path / "celerybeat-schedule")
    try:
        wait_for(
            lambda: Heartbeat.objects.filter(component=Heartbeat.Component.BEAT, pid=third.pid).exists(),
            60,
            "a beat started after the first one stopped recorded no heartbeat",
        )
    finally:
        third.kill()
        third.wait(timeout=20)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_groups() -> dict[int, int]:
    """pid -> process group id of every process on the machine."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,pgid="], capture_output=True, text=True, check=True).stdout
    return {int(pid): int(pgid) for pid, pgid in (line.split() for line in out.splitlines())}


def children_of(pid: int) -> dict[str, int]:
    # ps exits 1 when `pid` has no children, which is an answer here (none yet, or none left), not a failure
    out = subprocess.run(
        ["ps", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    ).stdout
    found = {}
    for line in out.splitlines():
        child, args = line.strip().split(maxsplit=1)
        for name in ("gunicorn", "worker", "beat"):
            if f" {name} " in f" {args} ".replace(" -m gunicorn", " gunicorn"):
                found[{"gunicorn": "web"}.get(name, name)] = int(child)
    return found


def start_stack(tmp_path, port: int) -> subprocess.Popen:
    env = worker_environment(
        PORT=str(port), SIGNOFF_VAR_DIR=str(tmp_path), SIGNOFF_HEARTBEAT_SECONDS="1", SIGNOFF_STOP_GRACE_SECONDS="20"
    )
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - read back by the failure messages
    return subprocess.Popen(
        [sys.executable, str(BASE_DIR / "bin" / "serve-embedded")],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def healthz_status(port: int) -> int | None:
    try:
        response = urllib3.request("GET", f"http://127.0.0.1:{port}/healthz", timeout=3, retries=False)
    except urllib3.exceptions.HTTPError:
        return None
    return response.status


def heartbeat_from(component: str, *, not_pid: int, after) -> Heartbeat | None:
    return Heartbeat.objects.filter(component=component, seen_at__gt=after).exclude(pid=not_pid).first()


@pytest.mark.django_db(transaction=True)
def test_make_run_restarts_a_killed_worker_beat_or_web_and_ctrl_c_leaves_no_process(tmp_path):
    port = free_port()
    supervisor = start_stack(tmp_path, port)
    log = lambda: (tmp_path / "serve.log").read_text()[-6000:]  # noqa: E731
    try:
        wait_for(lambda: healthz_status(port) == 200, 90, lambda: "the stack never answered /healthz 200:\n" + log())
        children = children_of(supervisor.pid)
        assert set(children) == {"web", "worker", "beat"}, children
        groups = set(children.values())
        assert all(process_groups()[pid] == pid for pid in groups)  # each child leads its own process group

        # kill -9 each child in turn: the supervisor starts a new one within 10 s (at 0.5 s, in fact), and the new
        # one works: a worker runs beat's heartbeat task, beat records its heartbeat, the web server answers. Their
        # own start takes 3-5 s on an idle machine; the 30 s allowed for it is for a CI machine under load.
        for name in ("worker", "beat", "web"):
            killed_at = timezone.now()
            os.kill(children[name], signal.SIGKILL)
            wait_for(
                lambda name=name: children_of(supervisor.pid).get(name) not in (None, children[name]),
                10,
                lambda name=name: f"no new {name} process within 10 s of the kill:\n" + log(),
            )
            new_pid = children_of(supervisor.pid)[name]
            if name == "web":
                wait_for(
                    lambda: healthz_status(port) == 200, 30, lambda: "the new web server does not answer:\n" + log()
                )
            else:
                row = wait_for(
                    lambda name=name, killed_at=killed_at: heartbeat_from(
                        name, not_pid=children[name], after=killed_at
                    ),
                    30,
                    lambda name=name: f"the new {name} did no work:\n" + log(),
                )
                assert row.pid == new_pid
            groups.add(new_pid)
        every_group = groups | set(children_of(supervisor.pid).values())
    finally:
        supervisor.send_signal(signal.SIGINT)  # what Ctrl-C sends
        supervisor.wait(timeout=60)
    assert supervisor.returncode == 0, log()
    left = {pid: pgid for pid, pgid in process_groups().items() if pgid in every_group or pid in every_group}
    assert not left, f"processes left after Ctrl-C: {left}\n{log()}"
    assert healthz_status(port) is None


@pytest.mark.django_db(transaction=True)
def test_a_supervisor_killed_by_sigkill_takes_its_children_with_it(tmp_path):
    """PR_SET_PDEATHSIG: even when the supervisor cannot forward a signal, no beat is left to run twice."""
    port = free_port()
    supervisor = start_stack(tmp_path, port)
    try:
        wait_for(lambda: len(children_of(supervisor.pid)) == 3, 30, "the stack did not start")
        children = children_of(supervisor.pid)
    finally:
        supervisor.kill()
        supervisor.wait(timeout=20)
    wait_for(
        lambda: not ({*children.values()} & {*process_groups().values()}),
        30,
        f"children outlived the supervisor: {children}",
    )


@pytest.mark.django_db
def test_checkheartbeat_exits_1_for_a_stale_beat_and_0_for_a_fresh_one():
    """The container health check of beat in docker-compose.yml."""
    from django.core.management import CommandError, call_command

    beat_seen(61)
    with pytest.raises(CommandError, match="beat: error: last seen 6"):
        call_command("checkheartbeat", "beat")
    beat_seen(2)
    call_command("checkheartbeat", "beat")
