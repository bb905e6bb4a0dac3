"""`flask mail dispatch`: send what waits in the delivery queue (for a cron job, and after a crash)."""
import click
from flask.cli import AppGroup

from crm.mail.pipeline import dispatch_pending

mail_cli = AppGroup("mail", help="Versand von Serienmails.")


@mail_cli.command("dispatch")
def dispatch_command():
    """Alle wartenden Nachrichten versenden (Wiederholungen, Reste nach einem Abbruch)."""
    result = dispatch_pending()
    click.echo(f"{result.sent} versandt, {result.failed} fehlgeschlagen, {result.retry} werden später erneut versucht.")
    if result.stopped:
        raise click.ClickException(f"Versand unterbrochen: {result.stopped}")
