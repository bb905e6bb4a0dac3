"""Access rules shared by all areas: deny by default, and signed tokens for personal links."""
from functools import lru_cache, wraps
from typing import Any, Callable

from flask import abort, current_app, request
from flask_login import current_user
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

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
    return _serializer(purpose).dumps(payload)


def load_token(purpose: str, token: str, max_age: int) -> Any:
    """The payload of a token made for `purpose`; raises TokenExpired or TokenInvalid."""
    try:
        return _serializer(purpose).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise TokenExpired() from exc
    except BadSignature as exc:
        raise TokenInvalid() from exc
