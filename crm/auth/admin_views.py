"""User administration for admins: create, change role, deactivate, send password links."""
import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from crm.auth.forms import EmptyForm, UserCreateForm, UserRoleForm
from crm.auth.models import ROLE_ORDER, User
from crm.auth.services import create_user, send_password_link, update_user
from crm.errors import ValidationFailed, apply_to_form
from crm.extensions import db
from crm.mail.transports import TransportError
from crm.security import roles_required

bp = Blueprint("users", __name__, url_prefix="/admin/benutzer")


@bp.get("/")
@roles_required("admin")
def index():
    users = db.session.scalars(sa.select(User).order_by(ROLE_ORDER, User.email)).all()
    return render_template("users/index.html", users=users, form=EmptyForm())


@bp.route("/neu", methods=["GET", "POST"])
@roles_required("admin")
def new():
    form = UserCreateForm()
    if form.validate_on_submit():
        try:
            user = create_user(
                email=form.email.data,
                role=form.role.data,
                first_name=form.first_name.data,
                last_name=form.last_name.data,
                salutation=form.salutation.data or None,
                actor=current_user,
            )
            send_password_link(user, actor=current_user, welcome=True)
        except ValidationFailed as error:
            db.session.rollback()
            apply_to_form(form, error)
        except TransportError as error:
            db.session.rollback()
            form.form_errors.append(f"Der Zugang wurde nicht angelegt, weil die Einladung nicht versandt werden konnte. {error}")
        else:
            db.session.commit()
            flash(f"Der Zugang für {user.email} wurde angelegt und eine Einladung versandt.", "success")
            return redirect(url_for("users.show", user_id=user.id))
    return render_template("users/new.html", form=form)


@bp.route("/<int:user_id>", methods=["GET", "POST"])
@roles_required("admin")
def show(user_id: int):
    user = db.get_or_404(User, user_id)
    form = UserRoleForm(role=user.role.value)
    if form.validate_on_submit():
        try:
            update_user(user, role=form.role.data, actor=current_user)
        except ValidationFailed as error:
            db.session.rollback()
            apply_to_form(form, error)
        else:
            db.session.commit()
            flash("Die Rolle wurde gespeichert.", "success")
            return redirect(url_for("users.show", user_id=user.id))
    return render_template("users/show.html", user=user, form=form, action_form=EmptyForm())


def _set_active(user_id: int, active: bool):
    user = db.get_or_404(User, user_id)
    if EmptyForm().validate_on_submit():
        try:
            update_user(user, active=active, actor=current_user)
        except ValidationFailed as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            db.session.commit()
            flash(f"Der Zugang {user.email} ist jetzt {'aktiv' if active else 'deaktiviert'}.", "success")
    return redirect(url_for("users.show", user_id=user.id))


@bp.post("/<int:user_id>/deaktivieren")
@roles_required("admin")
def deactivate(user_id: int):
    return _set_active(user_id, False)


@bp.post("/<int:user_id>/aktivieren")
@roles_required("admin")
def activate(user_id: int):
    return _set_active(user_id, True)


@bp.post("/<int:user_id>/passwort-link")
@roles_required("admin")
def send_reset(user_id: int):
    user = db.get_or_404(User, user_id)
    if EmptyForm().validate_on_submit():
        try:
            send_password_link(user, actor=current_user)
        except TransportError as error:
            db.session.rollback()
            flash(f"Die E-Mail konnte nicht versandt werden: {error}", "error")
        else:
            db.session.commit()
            flash(f"Ein Link zum Setzen des Passworts wurde an {user.email} geschickt.", "success")
    return redirect(url_for("users.show", user_id=user.id))
