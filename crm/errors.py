"""Domain errors and the German error pages."""
import logging
from typing import Any

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from crm.extensions import db
from crm.security import TokenInvalid

logger = logging.getLogger(__name__)


class ValidationFailed(Exception):
    """A service refused data; `field` names the form field the German `message` belongs to."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def apply_to_form(form, error: ValidationFailed) -> None:
    """Show a service's refusal next to its field (or above the form when no field matches)."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = list(field.errors) + [error.message]
    else:
        form.form_errors.append(error.message)


def saved(form, write) -> bool:
    """Run a service write and commit; on refusal roll back and show the message next to the field."""
    try:
        write()
    except ValidationFailed as error:
        db.session.rollback()
        apply_to_form(form, error)
        return False
    db.session.commit()
    return True


def submitted(form, write) -> tuple[bool, Any]:
    """For a valid submitted form: run the service write and commit (a refusal is rolled back and
    shown next to its field). Returns (saved, what the write returned)."""
    result: list = []
    ok = form.validate_on_submit() and saved(form, lambda: result.append(write()))
    return ok, result[0] if ok else None


ERROR_TEXTS = {
    400: ("Ungültige Anfrage", "Die Anfrage konnte nicht verarbeitet werden."),
    403: ("Kein Zugriff", "Sie haben keine Berechtigung, diese Seite zu sehen."),
    404: ("Seite nicht gefunden", "Die angeforderte Seite gibt es nicht (mehr)."),
    405: ("Nicht erlaubt", "Diese Aktion ist auf diesem Weg nicht möglich."),
    500: ("Interner Fehler", "Es ist ein Fehler aufgetreten. Ihre Eingaben wurden nicht gespeichert."),
}


def render_error(code: int, detail: str | None = None):
    title, text = ERROR_TEXTS.get(code, ERROR_TEXTS[400] if code < 500 else ERROR_TEXTS[500])
    return render_template("errors/error.html", code=code, title=title, text=detail or text), code


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_error(400, "Das Formular ist abgelaufen. Bitte laden Sie die Seite neu und senden Sie es erneut.")

    @app.errorhandler(TokenInvalid)
    def token_error(error):
        return render_error(400, error.message)

    @app.errorhandler(HTTPException)
    def http_error(error):
        if error.code and error.code < 400:
            return error
        return render_error(error.code or 500)

    @app.errorhandler(Exception)
    def internal_error(error):
        db.session.rollback()
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return render_error(500)
