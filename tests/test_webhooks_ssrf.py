"""The SSRF guard: every address that is not globally routable is refused, whatever form it takes, at registration and
again at every delivery, and the connection goes to the address that was checked."""

import ipaddress
from unittest import mock

import pytest

from tests.test_webhooks import Receiver, assert_error_shape
from webhooks import netguard, sender, tasks
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import webhook_delivery_attempt, webhook_endpoint_create, webhook_event_publish

PUBLIC = "93.184.216.34"

# (address, what the error must say) — one case per form the guard knows.
REFUSED = [
    # IPv4
    ("0.0.0.0", "'this network' (0.0.0.0/8)"),
    ("0.1.2.3", "'this network' (0.0.0.0/8)"),
    ("10.1.2.3", "private (10.0.0.0/8)"),
    ("100.64.0.1", "carrier-grade NAT (100.64.0.0/10)"),
    ("127.0.0.1", "loopback (127.0.0.0/8)"),
    ("127.255.0.9", "loopback (127.0.0.0/8)"),
    ("169.254.169.254", "link-local (169.254.0.0/16)"),
    ("172.16.0.1", "private (172.16.0.0/12)"),
    ("172.31.255.254", "private (172.16.0.0/12)"),
    ("192.0.0.8", "IETF protocol assignments (192.0.0.0/24)"),
    ("192.0.2.1", "documentation (192.0.2.0/24)"),
    ("192.88.99.1", "6to4 relay anycast (192.88.99.0/24)"),
    ("192.168.1.5", "private (192.168.0.0/16)"),
    ("198.18.0.1", "benchmarking (198.18.0.0/15)"),
    ("198.19.255.1", "benchmarking (198.18.0.0/15)"),
    ("198.51.100.7", "documentation (198.51.100.0/24)"),
    ("203.0.113.7", "documentation (203.0.113.0/24)"),
    ("224.0.0.1", "multicast (224.0.0.0/4)"),
    ("239.255.255.250", "multicast (224.0.0.0/4)"),
    ("240.0.0.1", "reserved (240.0.0.0/4)"),
    ("255.255.255.255", "broadcast (255.255.255.255)"),
    # IPv6 of its own
    ("::", "unspecified (::)"),
    ("::1", "loopback (::1)"),
    ("fe80::1", "link-local (fe80::/10)"),
    ("fec0::1", "site-local (fec0::/10)"),
    ("fc00::1", "unique-local (fc00::/7)"),
    ("fd12:3456:789a::1", "unique-local (fc00::/7)"),
    ("ff02::1", "multicast (ff00::/8)"),
    ("ff0e::1", "multicast (ff00::/8)"),
    ("2001:db8::1", "documentation (2001:db8::/32)"),
    ("100::1", "discard-only (100::/64)"),
    # IPv4 embedded in IPv6, in every standard form (Python 3.11 calls several of these global)
    ("::ffff:127.0.0.1", "it embeds 127.0.0.1 (IPv4-mapped), which is loopback"),
    ("::ffff:10.0.0.1", "it embeds 10.0.0.1 (IPv4-mapped), which is private"),
    ("::127.0.0.1", "it embeds 127.0.0.1 (IPv4-compatible), which is loopback"),
    ("::169.254.169.254", "it embeds 169.254.169.254 (IPv4-compatible), which is link-local"),
    ("::ffff:0:127.0.0.1", "it embeds 127.0.0.1 (IPv4-translated), which is loopback"),
    ("64:ff9b::7f00:1", "it embeds 127.0.0.1 (NAT64), which is loopback"),
    ("64:ff9b::a9fe:a9fe", "it embeds 169.254.169.254 (NAT64), which is link-local"),
    ("64:ff9b:1::a00:1", "it embeds 10.0.0.1 (local-use NAT64), which is private"),  # /96 within the local-use /48
    ("64:ff9b:1:7f00:0:100::", "it embeds 127.0.0.1 (local-use NAT64), which is loopback"),  # RFC 6052 /48 layout
    ("64:ff9b:1::5db8:d822", "local-use NAT64 (64:ff9b:1::/48)"),  # carrying a public address: still not global
    ("2002:7f00:1::1", "it embeds 127.0.0.1 (6to4), which is loopback"),
    ("2002:a9fe:a9fe::", "it embeds 169.254.169.254 (6to4), which is link-local"),
    ("2002:c0a8:105:1::1", "it embeds 192.168.1.5 (6to4), which is private"),
    # Teredo: server 65.54.227.120; client 127.0.0.1 obfuscated (XOR ffffffff) as 80ff:fffe
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "it embeds 127.0.0.1 (Teredo client), which is loopback"),
    ("2001:0:a00:1:8000:63bf:a247:27dd", "it embeds 10.0.0.1 (Teredo server), which is private"),
    ("2001:0:4136:e378:8000:63bf:a247:27dd", "IETF protocol assignments (2001::/23, Teredo included)"),
    ("2001:4860:1::5efe:7f00:1", "it embeds 127.0.0.1 (ISATAP), which is loopback"),
    ("2001:4860:1::200:5efe:a00:1", "it embeds 10.0.0.1 (ISATAP), which is private"),
    ("::5efe:a9fe:a9fe", "it embeds 169.254.169.254 (ISATAP), which is link-local"),
    ("fe80::5efe:c0a8:105", "it embeds 192.168.1.5 (ISATAP), which is private"),
]

# IPv4 spelt as the resolver (inet_aton) reads it: all of these are 127.0.0.1 or 10.0.0.1.
NUMERIC_SPELLINGS = [
    ("2130706433", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("017700000001", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("127.0.1", "127.0.0.1"),
    ("10.1", "10.0.0.1"),
    ("167772161", "10.0.0.1"),
]

ACCEPTED = [
    PUBLIC,
    "2606:2800:220:1:248:1893:25c8:1946",
    "::ffff:93.184.216.34",  # IPv4-mapped public address: it is that address
    "64:ff9b::5db8:d822",  # well-known NAT64 of the public address
    "2002:5db8:d822::1",  # 6to4 of the public address
    "2001:4860:1::5efe:5db8:d822",  # ISATAP id carrying the public address
]


def url_for(address: str, path: str = "/hook") -> str:
    return f"http://[{address}]{path}" if ":" in address else f"http://{address}{path}"


@pytest.fixture
def dns(monkeypatch):
    """What the name hooks.example.test resolves to right now (there is no DNS server in tests)."""
    answers = {"hooks.example.test": [PUBLIC]}
    calls = []

    def resolve(host, port):
        calls.append(host)
        if host not in answers:
            raise OSError("no such host")
        return answers[host]

    monkeypatch.setattr(netguard, "resolve_host", resolve)
    answers["calls"] = calls
    return answers


@pytest.fixture
def no_connection():
    """Fails the test if anything opens a connection: a refused address must be refused before connecting."""
    with (
        mock.patch.object(sender.urllib3, "HTTPConnectionPool") as http,
        mock.patch.object(sender.urllib3, "HTTPSConnectionPool") as https,
    ):
        yield lambda: http.called or https.called


@pytest.fixture
def no_broker():
    with mock.patch.object(tasks.deliver_webhook, "delay") as delay:
        yield delay


def register(api, url):
    return api["ds"].post("/api/v1/webhooks/", {"url": url, "events": ["verdict.signed"]}, format="json")


def assert_refused(response, address, reason):
    assert response.status_code == 400, response.json()
    body = response.json()
    assert_error_shape(body)
    assert body["code"] == "webhook_url_private"
    (refused,) = body["extra"]["addresses"]
    assert ipaddress.ip_address(refused) == ipaddress.ip_address(address)
    assert f"{refused}: {reason}" in body["message"], body["message"]
    assert not WebhookEndpoint.objects.exists()


# --- at registration --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("address, reason", REFUSED, ids=[a for a, _ in REFUSED])
def test_registration_refuses_an_address_literal(api, dns, address, reason):
    assert_refused(register(api, url_for(address)), address, reason)


@pytest.mark.parametrize("address, reason", REFUSED, ids=[a for a, _ in REFUSED])
def test_registration_refuses_a_name_that_resolves_to_it(api, dns, address, reason):
    dns["hooks.example.test"] = [address]
    assert_refused(register(api, "https://hooks.example.test/hook"), address, reason)


@pytest.mark.parametrize("spelling, address", NUMERIC_SPELLINGS)
def test_registration_reads_numeric_ipv4_spellings_as_the_resolver_does(api, dns, spelling, address):
    response = register(api, f"http://{spelling}/hook")
    reason = "loopback (127.0.0.0/8)" if address == "127.0.0.1" else "private (10.0.0.0/8)"
    assert_refused(response, address, reason)
    assert dns["calls"] == []  # read as a number, never handed to DNS


@pytest.mark.parametrize("address", ACCEPTED)
def test_registration_accepts_globally_routable_addresses(api, dns, address):
    response = register(api, url_for(address))
    assert response.status_code == 201, response.json()


def test_every_resolved_address_is_checked(api, dns):
    dns["hooks.example.test"] = [PUBLIC, "10.0.0.7"]
    assert_refused(register(api, "https://hooks.example.test/hook"), "10.0.0.7", "private (10.0.0.0/8)")


def test_the_allow_list_still_opens_a_listed_name(api, dns, settings):
    dns["hooks.example.test"] = ["127.0.0.1"]
    settings.SIGNOFF_WEBHOOK_ALLOW_HOSTS = ["hooks.example.test"]
    assert register(api, "http://hooks.example.test:9/hook").status_code == 201
    # and only that name: the same address spelt otherwise is still refused
    assert register(api, "http://2130706433:9/hook").status_code == 400


# --- at delivery ------------------------------------------------------------------------------------------------


@pytest.fixture
def registered(users, dns, no_broker):
    """An endpoint registered while its name pointed at a public address, with one delivery pending."""
    webhook_endpoint_create(url="https://hooks.example.test/hook", events=["verdict.signed"], created_by=users["ds"])
    (delivery,) = webhook_event_publish(event="verdict.signed", payload={"n": 1})
    return delivery


def assert_attempt_refused(delivery, address, reason):
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.status_code is None
    assert "non-public address" in attempt.error, attempt.error
    assert f"{address}: {reason}" in attempt.error or f"{ipaddress.ip_address(address)}: {reason}" in attempt.error, (
        attempt.error
    )
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == (
        WebhookDelivery.Status.PENDING,
        1,
    )  # retried: DNS may come back


@pytest.mark.parametrize("address, reason", REFUSED, ids=[a for a, _ in REFUSED])
def test_delivery_refuses_a_name_that_now_resolves_to_it(registered, dns, no_connection, address, reason):
    dns["hooks.example.test"] = [address]  # DNS rebinding, or the record simply changed
    assert webhook_delivery_attempt(delivery_id=registered.pk) == 10
    assert_attempt_refused(registered, address, reason)
    assert not no_connection()


@pytest.mark.parametrize("spelling, address", NUMERIC_SPELLINGS)
def test_delivery_refuses_a_stored_numeric_spelling(users, dns, no_broker, no_connection, spelling, address):
    """An endpoint stored before the guard knew these spellings is refused when it is sent to."""
    WebhookEndpoint.objects.create(
        url=f"http://{spelling}/hook", events=["verdict.signed"], secret_encrypted="x", created_by=users["ds"]
    )
    (delivery,) = webhook_event_publish(event="verdict.signed", payload={})
    with mock.patch("webhooks.services.webhook_endpoint_secret", return_value="whsec_" + "A" * 44):
        webhook_delivery_attempt(delivery_id=delivery.pk)
    reason = "loopback (127.0.0.0/8)" if address == "127.0.0.1" else "private (10.0.0.0/8)"
    assert_attempt_refused(delivery, address, reason)
    assert not no_connection() and dns["calls"] == []


def test_delivery_connects_to_the_checked_address_not_a_second_lookup(users, dns, settings, no_broker):
    """The name is resolved once, checked, and the connection goes to that address (a receiver on 127.0.0.1 here,
    let in by the allow-list): no second lookup a rebinding DNS server could answer differently."""
    settings.SIGNOFF_WEBHOOK_ALLOW_HOSTS = ["hooks.example.test"]
    dns["hooks.example.test"] = ["127.0.0.1"]
    with Receiver() as receiver:
        port = receiver.server.server_address[1]
        webhook_endpoint_create(
            url=f"http://hooks.example.test:{port}/hook", events=["verdict.signed"], created_by=users["ds"]
        )
        (delivery,) = webhook_event_publish(event="verdict.signed", payload={})
        dns["calls"].clear()
        assert webhook_delivery_attempt(delivery_id=delivery.pk) is None
    assert dns["calls"] == ["hooks.example.test"]
    (request,) = receiver.requests
    assert {k.lower(): v for k, v in request["headers"].items()}["host"] == f"hooks.example.test:{port}"
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == WebhookDelivery.Status.DELIVERED
