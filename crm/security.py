"""Access rules shared by all areas: deny by default, and signed tokens for personal links."""
import hmac
import json
from functools import lru_cache, wraps
from typing import Any, Callable

from flask import abort, current_app, request
from flask_login import current_user
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeSerializer, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode, int_to_bytes, want_bytes
from itsdangerous.signer import HMACAlgorithm

from crm.extensions import login_manager


def public(view: Callable) -> Callable:
    """Mark a view as open to visitors who are not logged in."""
    view.is_public = True
    return view


def roles_required(*roles: str) -> Callable:
    """Allow a view for users with one of `roles` (admins count as office staff)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            return view(*args, **kwargs)

        wrapped.allowed_roles = roles
        return wrapped

    return decorator


def enforce_access():
    """before_request: every view must be public or declare its roles; anything else is refused."""
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    if view is None or request.endpoint == "static" or getattr(view, "is_public", False):
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    roles = getattr(view, "allowed_roles", None)
    if not roles or not current_user.has_role(*roles):
        abort(403)
    return None


class TokenInvalid(Exception):
    """A personal link that was tampered with, used up, or made for something else."""

    message = "Dieser Link ist ungültig oder wurde bereits verwendet."


class TokenExpired(TokenInvalid):
    message = "Dieser Link ist abgelaufen. Bitte fordern Sie einen neuen an."


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return _serializer_for(current_app.config["SECRET_KEY"], purpose)


@lru_cache(maxsize=64)
def _serializer_for(secret_key: str, purpose: str) -> URLSafeTimedSerializer:
    """One serializer per key and purpose (a newsletter signs a link per recipient)."""
    return URLSafeTimedSerializer(secret_key, salt=f"crm.{purpose}")


def make_token(purpose: str, payload: Any) -> str:
    """A signed, timestamped token for `purpose` that reveals nothing beyond `payload`."""
    return _dumps_for(current_app.config["SECRET_KEY"], purpose)(payload)


@lru_cache(maxsize=64)
def _dumps_for(secret_key: str, purpose: str) -> "FastDumps":
    return FastDumps(_serializer_for(secret_key, purpose))


class FastDumps:
    """`serializer.dumps` for the many links of a mailing, as tokens the serializer's loads() reads.

    itsdangerous builds a signer and derives its key for every token, and tries zlib on every payload
    (zlib sets up its state for each call: tens of microseconds). A newsletter signs two links per
    recipient; that was a tenth of the sender's time. This derives the key once and never compresses:
    the token is the serializer's uncompressed form (base64 JSON, the timestamp for a timed one, the
    HMAC, joined by "."), byte for byte, so loads() checks it as before.
    """

    def __init__(self, serializer: URLSafeSerializer | URLSafeTimedSerializer):
        signer = serializer.make_signer()
        if not isinstance(signer.algorithm, HMACAlgorithm):
            raise TypeError("FastDumps signs with HMAC only")
        self._sep = want_bytes(signer.sep)
        self._mac = hmac.new(signer.derive_key(), digestmod=signer.algorithm.digest_method)
        #: A timed token carries the time of its signer's clock (looked up per token, so that a test can set it).
        self._clock = signer if isinstance(signer, TimestampSigner) else None

    def __call__(self, payload: Any) -> str:
        value = base64_encode(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        if self._clock is not None:
            value += self._sep + base64_encode(int_to_bytes(self._clock.get_timestamp()))
        mac = self._mac.copy()
        mac.update(value)
        return (value + self._sep + base64_encode(mac.digest())).decode("ascii")


def load_token(purpose: str, token: str, max_age: int) -> Any:
    """The payload of a token made for `purpose`; raises TokenExpired or TokenInvalid."""
    try:
        return _serializer(purpose).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise TokenExpired() from exc
    except BadSignature as exc:
        raise TokenInvalid() from exc
