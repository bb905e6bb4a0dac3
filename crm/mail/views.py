"""The file outbox of the embedded default, browsable by the office in development."""
import email
import email.policy
import re
from pathlib import Path

from flask import Blueprint, abort, current_app, render_template, request

from crm.security import roles_required

bp = Blueprint("mail", __name__, url_prefix="/outbox")

EML_NAME = re.compile(r"^[\w.-]+\.eml$")


def _outbox() -> Path:
    if current_app.config["MAIL_BACKEND"] != "file" or not current_app.config["SHOW_OUTBOX"]:
        abort(404)
    return Path(current_app.config["MAIL_OUTBOX_DIR"])


def _read(path: Path):
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


@bp.get("/")
@roles_required("office")
def index():
    directory = _outbox()
    files = sorted(directory.glob("*.eml"), reverse=True) if directory.exists() else []
    page = max(request.args.get("page", 1, type=int), 1)
    per_page = current_app.config["PER_PAGE"]
    shown = files[(page - 1) * per_page : page * per_page]
    messages = [(path.name, _read(path)) for path in shown]
    return render_template(
        "mail/outbox.html", messages=messages, total=len(files), page=page, pages=max(1, -(-len(files) // per_page))
    )


@bp.get("/<name>")
@roles_required("office")
def show(name: str):
    path = _outbox() / name
    if not EML_NAME.match(name) or not path.is_file():
        abort(404)
    msg = _read(path)
    html = msg.get_body(preferencelist=("html",))
    text = msg.get_body(preferencelist=("plain",))
    return render_template(
        "mail/message.html",
        name=name,
        msg=msg,
        html=html.get_content() if html else None,
        text=text.get_content() if text else None,
    )
