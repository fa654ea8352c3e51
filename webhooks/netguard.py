"""Refuse outgoing requests to any address that is not globally routable (SSRF), however the address is spelt."""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from core.errors import ApplicationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Ranges refused by name, so the error says why. Python's `is_global` is consulted as well, but it is not enough on its
# own: 3.11 calls ::127.0.0.1, 64:ff9b::7f00:1 and 2002:7f00:1:: global, and ISATAP ids are invisible to it.
_V4_RANGES = [
    (ipaddress.IPv4Network(net), reason)
    for net, reason in [
        ("0.0.0.0/8", "'this network' (0.0.0.0/8)"),
        ("10.0.0.0/8", "private (10.0.0.0/8)"),
        ("100.64.0.0/10", "carrier-grade NAT (100.64.0.0/10)"),
        ("127.0.0.0/8", "loopback (127.0.0.0/8)"),
        ("169.254.0.0/16", "link-local (169.254.0.0/16)"),
        ("172.16.0.0/12", "private (172.16.0.0/12)"),
        ("192.0.0.0/24", "IETF protocol assignments (192.0.0.0/24)"),
        ("192.0.2.0/24", "documentation (192.0.2.0/24)"),
        ("192.88.99.0/24", "6to4 relay anycast (192.88.99.0/24)"),
        ("192.168.0.0/16", "private (192.168.0.0/16)"),
        ("198.18.0.0/15", "benchmarking (198.18.0.0/15)"),
        ("198.51.100.0/24", "documentation (198.51.100.0/24)"),
        ("203.0.113.0/24", "documentation (203.0.113.0/24)"),
        ("255.255.255.255/32", "broadcast (255.255.255.255)"),
        ("224.0.0.0/4", "multicast (224.0.0.0/4)"),
        ("240.0.0.0/4", "reserved (240.0.0.0/4)"),
    ]
]
_V6_RANGES: list[tuple[ipaddress.IPv6Network, str | None]] = [
    (ipaddress.IPv6Network(net), reason)
    for net, reason in [
        ("::/128", "unspecified (::)"),
        ("::1/128", "loopback (::1)"),
        ("64:ff9b::/96", None),  # well-known NAT64: as global as the IPv4 address it carries (checked above)
        ("64:ff9b:1::/48", "local-use NAT64 (64:ff9b:1::/48)"),
        ("::/8", "reserved (::/8, which holds the deprecated IPv4-compatible and IPv4-translated forms)"),
        ("100::/64", "discard-only (100::/64)"),
        ("2001::/23", "IETF protocol assignments (2001::/23, Teredo included)"),
        ("2001:db8::/32", "documentation (2001:db8::/32)"),
        ("3fff::/20", "documentation (3fff::/20)"),
        ("fc00::/7", "unique-local (fc00::/7)"),
        ("fe80::/10", "link-local (fe80::/10)"),
        ("fec0::/10", "site-local (fec0::/10)"),
        ("ff00::/8", "multicast (ff00::/8)"),
    ]
]
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_TEREDO = ipaddress.IPv6Network("2001::/32")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """Every IPv4 address this IPv6 address carries, in each standard form, named by the form."""
    value = int(ip)
    low32 = ipaddress.IPv4Address(value & 0xFFFFFFFF)
    found = []
    if ip in _IPV4_MAPPED:
        found.append(("IPv4-mapped", low32))
    if ip in _IPV4_COMPATIBLE and value > 1:
        found.append(("IPv4-compatible", low32))
    if ip in _IPV4_TRANSLATED:
        found.append(("IPv4-translated", low32))
    if ip in _NAT64:
        found.append(("NAT64", low32))
    if ip in _NAT64_LOCAL:
        # the operator picks the prefix length (RFC 6052): with a /96 the IPv4 address is the last 32 bits, with the
        # /48 itself it is split around the reserved bits 64-71
        readings = [low32, ipaddress.IPv4Address(((value >> 64) & 0xFFFF) << 16 | (value >> 40) & 0xFFFF)]
        found.extend(("local-use NAT64", reading) for reading in readings if int(reading))
    if ip in _SIX_TO_FOUR:
        found.append(("6to4", ipaddress.IPv4Address((value >> 80) & 0xFFFFFFFF)))
    if ip in _TEREDO:
        found.append(("Teredo server", ipaddress.IPv4Address((value >> 64) & 0xFFFFFFFF)))
        found.append(("Teredo client", ipaddress.IPv4Address(~value & 0xFFFFFFFF)))
    if (value >> 32) & 0xFDFFFFFF == 0x00005EFE:  # ISATAP interface id: 0000:5efe or 0200:5efe, then the IPv4 address
        found.append(("ISATAP", low32))
    return found


def _ipv4_refusal(ip: ipaddress.IPv4Address) -> str | None:
    for network, reason in _V4_RANGES:
        if ip in network:
            return reason
    return None if ip.is_global else "not globally routable"


def address_refusal(ip: IPAddress) -> str | None:
    """Why we may not send to this address, or None when it is globally routable (and so is every IPv4 inside it)."""
    if isinstance(ip, ipaddress.IPv4Address):
        return _ipv4_refusal(ip)
    ip = ipaddress.IPv6Address(int(ip))  # drop any %zone
    for form, inner in embedded_ipv4(ip):
        if reason := _ipv4_refusal(inner):
            return f"it embeds {inner} ({form}), which is {reason}"
    if ip in _IPV4_MAPPED:
        return None  # it is the IPv4 address, which passed
    for network, reason in _V6_RANGES:
        if ip in network:
            if reason is None:
                break
            return reason
    return None if ip.is_global else "not globally routable"


def host_literal(host: str) -> IPAddress | None:
    """The address a host name spells as a number, read as the resolver reads it: 2130706433, 0x7f.1, 0177.0.0.1 and
    127.1 are all 127.0.0.1 to inet_aton. None for a name that needs DNS."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def resolve_host(host: str, port: int) -> list[str]:
    """DNS lookup: every address the name has now. Tests replace this function; there is no DNS server there."""
    # the address is a string for every IP family (the stub allows an int for families without addresses)
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


def refuse_credentials(url: str) -> None:
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise ApplicationError(
            "Webhook URLs may not carry credentials (user:password@): they would be shown to everyone who can see the "
            "endpoint. Your receiver should verify the webhook-signature header with the signing secret instead; that "
            "is what Standard Webhooks signing is for.",
            code="webhook_url_credentials",
            extra={"field": "url"},
        )


def resolve_allowed(url: str) -> tuple[str, str, int, list[str]]:
    """Return (scheme, host, port, addresses) for a URL we may send to, or raise with the reason.
    Every address the host has is checked; the caller connects to one of these, never to the name again."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise ApplicationError(
            "Webhook URLs must be http(s) with a host name.", code="invalid_webhook_url", extra={"url": url}
        )
    host = parts.hostname
    literal = host_literal(host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = resolve_host(host, port)
        except (OSError, UnicodeError):
            raise ApplicationError(
                f"The host {host!r} does not resolve.", code="webhook_host_unresolvable", extra={"url": url}
            ) from None
    allowed_hosts = {h.lower() for h in settings.SIGNOFF_WEBHOOK_ALLOW_HOSTS}
    if host.lower() not in allowed_hosts:
        refusals = {a: reason for a in addresses if (reason := address_refusal(ipaddress.ip_address(a)))}
        if refusals:
            blocked = list(refusals)
            why = "; ".join(f"{a}: {reason}" for a, reason in refusals.items())
            raise ApplicationError(
                f"The host {host!r} resolves to a non-public address ({why}); "
                "list it in SIGNOFF_WEBHOOK_ALLOW_HOSTS to allow it.",
                code="webhook_url_private",
                extra={"url": url, "addresses": blocked},
            )
    return parts.scheme, host, port, addresses
