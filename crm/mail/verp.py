"""VERP return paths: each bulk delivery gets its own envelope sender, so a bounce names the delivery.

With CRM_BOUNCE_ADDRESS = bounces@example.org, the delivery 4711 goes out with MAIL FROM (which the
receiving server turns into Return-Path) bounces+4711-<signature>@example.org. A non-delivery report
for it is addressed there, and `flask mail process-bounces` reads the delivery id back. The signature
is a short HMAC of the id with SECRET_KEY, so nobody can mark arbitrary deliveries as bounced by mailing
the bounce mailbox with made-up addresses. The mail server must deliver bounces+anything@ to the
bounces@ mailbox (Postfix: recipient_delimiter = +).
"""
import hashlib
import hmac
import re

from flask import current_app

from crm.mail.models import Delivery

#: 12 hex digits (48 bits) keep the local part short while guessing one stays hopeless.
SIGNATURE_LENGTH = 12
TAG = re.compile(r"^(?P<id>\d{1,18})-(?P<signature>[0-9a-f]+)$")


def _signature(delivery_id: int) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"verp:{delivery_id}".encode(), hashlib.sha256).hexdigest()[:SIGNATURE_LENGTH]


def _bounce_address() -> tuple[str, str] | None:
    """(local part, domain) of CRM_BOUNCE_ADDRESS, or None when VERP is off."""
    address = (current_app.config.get("BOUNCE_ADDRESS") or "").strip()
    if "@" not in address:
        return None
    local, _, domain = address.rpartition("@")
    return local, domain


def return_path(delivery: Delivery) -> str | None:
    """The envelope sender of `delivery`, or None (the sender of the headers) without CRM_BOUNCE_ADDRESS."""
    base = _bounce_address()
    if base is None:
        return None
    local, domain = base
    return f"{local}+{delivery.id}-{_signature(delivery.id)}@{domain}"


def delivery_id(address: str) -> int | None:
    """The delivery id in a return path this CRM made; None for other addresses and wrong signatures."""
    base = _bounce_address()
    if base is None or "@" not in address:
        return None
    local, _, domain = address.strip().strip("<>").rpartition("@")
    prefix, _, tag = local.partition("+")
    # Mail servers may change the case of the domain and, rarely, of the local part.
    if domain.lower() != base[1].lower() or prefix.lower() != base[0].lower():
        return None
    match = TAG.match(tag.lower())
    if match is None or not hmac.compare_digest(match["signature"], _signature(int(match["id"]))):
        return None
    return int(match["id"])


def looks_like_return_path(address: str) -> bool:
    """Whether `address` is of the form of our return paths (signed correctly or not)."""
    base = _bounce_address()
    local = address.strip().strip("<>").rpartition("@")[0]
    return base is not None and local.lower().startswith(f"{base[0].lower()}+")
