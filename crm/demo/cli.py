"""`flask demo load`: the demo data set for development and trying things out."""
import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from crm.auth.models import ROLE_ORDER, User
from crm.demo.loader import DEMO_PASSWORD, demo_user_emails, load_demo
from crm.extensions import db

demo_cli = AppGroup("demo", help="Demo-Daten.")


@demo_cli.command("load")
def load_command():
    """Demo-Daten laden (nur in eine leere Datenbank; vorhandene Daten bleiben unverändert)."""
    if current_app.config["ENV_NAME"] == "production":
        raise click.ClickException("Demo-Daten werden in der Produktion nicht geladen.")
    refs = load_demo()
    if refs is None:
        click.echo("Die Datenbank enthält bereits Daten; Demo-Daten wurden nicht (erneut) geladen.")
    else:
        db.session.commit()
        click.echo(f"Demo-Daten geladen: {len(refs['organizations'])} Organisationen, {len(refs['people'])} Personen.")
    users = db.session.scalars(sa.select(User).where(User.email.in_(demo_user_emails())).order_by(ROLE_ORDER)).all()
    if users:
        click.echo(f"Demo-Zugänge (Passwort jeweils: {DEMO_PASSWORD}):")
        for user in users:
            click.echo(f"  {user.role.label:<16} {user.email}")
