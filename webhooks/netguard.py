"""Refuse outgoing requests to private, loopback, link-local and other non-public addresses (SSRF)."""
import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from core.errors import ApplicationError


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve_allowed(url: str) -> tuple[str, str, int, list[str]]:
    """Return (scheme, host, port, addresses) for a URL we may send to, or raise with the reason."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApplicationError("Webhook URLs must be http(s) with a host name.", code="invalid_webhook_url", extra={"url": url})
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise ApplicationError(f"The host {host!r} does not resolve.", code="webhook_host_unresolvable", extra={"url": url}) from None
    addresses = sorted({info[4][0] for info in infos})
    allowed_hosts = {h.lower() for h in settings.SIGNOFF_WEBHOOK_ALLOW_HOSTS}
    if host.lower() not in allowed_hosts:
        blocked = [a for a in addresses if not _is_public(a)]
        if blocked:
            raise ApplicationError(
                f"The host {host!r} resolves to a non-public address ({', '.join(blocked)}); "
                "list it in SIGNOFF_WEBHOOK_ALLOW_HOSTS to allow it.",
                code="webhook_url_private", extra={"url": url, "addresses": blocked},
            )
    return parts.scheme, host, port, addresses
