"""`flask mail dispatch` and `flask mail process-bounces` (both for cron jobs)."""
import click
from flask.cli import AppGroup

from crm.mail.bounce_inboxes import ImapInbox, InboxError, MaildirInbox
from crm.mail.bounces import process_inbox
from crm.mail.pipeline import dispatch_pending

mail_cli = AppGroup("mail", help="Versand von Serienmails.")


@mail_cli.command("dispatch")
def dispatch_command():
    """Alle wartenden Nachrichten versenden (Wiederholungen, Reste nach einem Abbruch)."""
    result = dispatch_pending()
    click.echo(f"{result.sent} versandt, {result.failed} fehlgeschlagen, {result.retry} werden später erneut versucht.")
    if result.stopped:
        raise click.ClickException(f"Versand unterbrochen: {result.stopped}")


@mail_cli.command("process-bounces")
@click.option("--maildir", type=click.Path(file_okay=False), help="Maildir statt des IMAP-Postfachs (CRM_BOUNCE_IMAP_*).")
def process_bounces_command(maildir: str | None):
    """Unzustellbarkeitsmeldungen und Abmeldungen per E-Mail lesen: Zustellungen als unzustellbar markieren,
    tote Adressen sperren, Abmeldungen aus dem List-Unsubscribe-Header eintragen."""
    try:
        with MaildirInbox(maildir) if maildir else ImapInbox.from_config() as inbox:
            result = process_inbox(inbox)
    except InboxError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{result.summary()}.")
