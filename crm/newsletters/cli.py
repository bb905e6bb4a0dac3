"""`flask newsletters …`: the newsletter's jobs on the command line."""
import click
from flask.cli import AppGroup

from crm.extensions import db
from crm.newsletters.subscription import purge_expired

newsletters_cli = AppGroup("newsletters", help="Newsletter: Versand und Anmeldungen.")


@newsletters_cli.command("purge-signups")
def purge_signups_command():
    """Unbestätigte, abgelaufene Newsletter-Anmeldungen löschen (täglich per cron)."""
    number = purge_expired()
    db.session.commit()
    click.echo(f"{number} abgelaufene, unbestätigte Anmeldungen gelöscht.")
