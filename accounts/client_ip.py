"""The client's IP address, as every rate limit counts it (portal login by code and by
password, staff login, sign-up, Contact Us, the gateways' webhooks).

Production runs behind a TLS proxy: the TCP peer (REMOTE_ADDR) is the proxy, and the
proxy appends the address it sees to X-Forwarded-For. TRUSTED_PROXIES lists the proxies
in front of the portal, the outermost first, each an IP or a CIDR (one entry per hop).

- TRUSTED_PROXIES empty (the default, the demo): REMOTE_ADDR, whatever the headers say.
- The peer is not the last trusted proxy: REMOTE_ADDR. X-Forwarded-For from anyone else is
  never read, so a client cannot choose the address it is counted under.
- The peer is the last trusted proxy: django-ipware reads X-Forwarded-For, checks that the
  hops at its end are the trusted proxies in order and returns the address just before
  them (what the outermost proxy saw). Whatever a client wrote further left is ignored.
"""

from types import SimpleNamespace

from django.conf import settings
from ipware import get_client_ip


def client_ip(request) -> str:
    if request is None:
        return ""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    proxies = list(settings.TRUSTED_PROXIES)
    if not proxies or not remote:
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    # The peer becomes the chain's last hop: ipware then checks it against the last
    # trusted proxy, like the hops the proxies wrote.
    chain = f"{forwarded}, {remote}" if forwarded else remote
    found, _routable = get_client_ip(
        SimpleNamespace(META={"HTTP_X_FORWARDED_FOR": chain}),
        proxy_order="left-most",
        proxy_trusted_ips=proxies,
        request_header_order=["HTTP_X_FORWARDED_FOR"],
        strict=False,
        algorithm="modern",
    )
    return found or remote
