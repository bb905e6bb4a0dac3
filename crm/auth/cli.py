"""`flask users ...`: account administration from the shell."""
import click
from flask.cli import AppGroup

from crm.auth.models import Role
from crm.auth.services import create_user, send_password_link
from crm.errors import ValidationFailed
from crm.extensions import db

users_cli = AppGroup("users", help="Benutzerzugänge verwalten.")


@users_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.office.value, show_default=True)
@click.option("--first-name", default=None, help="Vorname der Person (falls neu).")
@click.option("--last-name", default=None, help="Nachname der Person (falls neu).")
@click.option("--password", default=None, help="Passwort; ohne Angabe wird interaktiv gefragt.")
@click.option("--send-link", is_flag=True, help="Kein Passwort setzen, stattdessen einen Einladungslink mailen.")
def create_command(email, role, first_name, last_name, password, send_link):
    """Einen Zugang anlegen, z. B. `flask users create --role admin name@example.org`."""
    if not send_link and password is None:
        password = click.prompt("Passwort", hide_input=True, confirmation_prompt="Passwort wiederholen")
    try:
        user = create_user(
            email=email, role=role, first_name=first_name, last_name=last_name, password=password, actor=None
        )
        if send_link:
            send_password_link(user, actor=None, welcome=True)
    except ValidationFailed as error:
        db.session.rollback()
        raise click.ClickException(error.message) from error
    db.session.commit()
    click.echo(f"Zugang {user.email} ({Role(user.role).label}) angelegt.")
