"""Login, logout and the password-reset flow."""
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user

from crm.auth import tokens
from crm.auth.forms import EmptyForm, ForgotPasswordForm, LoginForm, ResetPasswordForm
from crm.auth.models import User
from crm.auth.services import (
    LoginRefused, authenticate, login_with_link, request_password_reset, reset_password, send_login_link,
)  # fmt: skip
from crm.errors import ValidationFailed, apply_to_form
from crm.extensions import db, login_manager
from crm.security import public

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """The user of a login session, unless that session was ended (see User.end_sessions)."""
    user_id, _, version = session_id.partition(":")
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    if user is None or str(user.session_version) != version:
        return None
    return user


def home_for(user) -> str:
    return url_for("dashboard.index" if user.is_staff else "portal.index")


def _safe_next(target: str | None) -> str | None:
    """Only local paths: never redirect to another site after login."""
    if not target:
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc and target.startswith("/") else None


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = authenticate(form.email.data, form.password.data, ip=request.remote_addr)
        except LoginRefused as refused:
            db.session.commit()  # keep the failed attempt for throttling
            form.form_errors.append(refused.message)
        else:
            db.session.commit()
            login_user(user)
            return redirect(_safe_next(request.args.get("next")) or home_for(user))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@public
def logout():
    logout_user()
    flash("Sie wurden abgemeldet.", "success")
    return redirect(url_for("auth.login"))


@bp.route("/passwort-vergessen", methods=["GET", "POST"])
@public
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        request_password_reset(form.email.data)
        db.session.commit()
        flash(
            "Wenn es zu dieser Adresse einen Zugang gibt, haben wir einen Link zum Zurücksetzen des Passworts "
            "geschickt. Er ist 24 Stunden gültig.",
            "success",
        )
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot_password.html", form=form)


def _set_password(purpose: str, token: str):
    row = tokens.find(purpose, token)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            reset_password(row, form.password.data)
        except ValidationFailed as error:
            apply_to_form(form, error)
        else:
            db.session.commit()
            flash("Ihr Passwort wurde gespeichert. Sie können sich jetzt anmelden.", "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/reset_password.html", form=form, user=row.user, welcome=purpose == "invitation")


@bp.route("/passwort-setzen/<token>", methods=["GET", "POST"], endpoint="reset_password")
@public
def reset_password_view(token: str):
    return _set_password("password", token)


@bp.route("/einladung/<token>", methods=["GET", "POST"])
@public
def accept_invitation(token: str):
    return _set_password("invitation", token)


@bp.route("/anmeldelink", methods=["GET", "POST"])
@public
def request_login_link():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        send_login_link(form.email.data)
        db.session.commit()
        flash(
            "Wenn es zu dieser Adresse einen Zugang gibt, haben wir einen Anmeldelink geschickt. "
            f"Er ist {current_app.config['LOGIN_LINK_MAX_AGE'] // 60} Minuten gültig.",
            "success",
        )
        return redirect(url_for("auth.login"))
    return render_template("auth/login_link.html", form=form)


# The mailed link opens a page with a button: mail scanners that open links must not use it up.
@bp.route("/anmeldelink/<token>", methods=["GET", "POST"])
@public
def link_login(token: str):
    row = tokens.find("login", token)
    form = EmptyForm()
    if form.validate_on_submit():
        user = login_with_link(row, ip=request.remote_addr)
        db.session.commit()
        logout_user()
        login_user(user)
        return redirect(home_for(user))
    return render_template("auth/link_login.html", form=form, user=row.user)
