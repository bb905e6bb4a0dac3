"""`flask newsletters …`: the newsletter's jobs on the command line, through the same service
functions as the office's buttons."""
import click
import sqlalchemy as sa
from flask.cli import AppGroup

from crm.contacts.validation import email_error, normalize_email
from crm.errors import ValidationFailed
from crm.extensions import db
from crm.newsletters import sending
from crm.newsletters.models import Newsletter
from crm.newsletters.office import delivery_figures, recipient, send_test
from crm.newsletters.subscription import purge_expired

newsletters_cli = AppGroup("newsletters", help="Newsletter: Versand und Anmeldungen.")


@newsletters_cli.command("purge-signups")
def purge_signups_command():
    """Unbestätigte, abgelaufene Newsletter-Anmeldungen löschen (täglich per cron)."""
    number = purge_expired()
    db.session.commit()
    click.echo(f"{number} abgelaufene, unbestätigte Anmeldungen gelöscht.")


def _newsletter(newsletter_id: int) -> Newsletter:
    newsletter = db.session.get(Newsletter, newsletter_id)
    if newsletter is None:
        raise click.ClickException(f"Einen Newsletter Nr. {newsletter_id} gibt es nicht (siehe `flask newsletters list`).")
    return newsletter


@newsletters_cli.command("list")
def list_command():
    """Alle Newsletter: Nummer, Status, Empfängerkreis, versandt/fehlgeschlagen, Betreff."""
    newsletters = db.session.scalars(sa.select(Newsletter).order_by(Newsletter.id)).all()
    figures = delivery_figures([n.id for n in newsletters])
    if not newsletters:
        click.echo("Noch kein Newsletter angelegt.")
    for newsletter in newsletters:
        counts = figures.get(newsletter.id, {})
        segment = newsletter.segment.name if newsletter.segment else "–"
        click.echo(
            f"{newsletter.id:>4}  {newsletter.status.label:<14} {segment:<24} "
            f"{counts.get('sent', 0):>6} versandt {counts.get('failed', 0) + counts.get('bounced', 0):>5} fehlgeschl.  "
            f"{newsletter.subject}"
        )


@newsletters_cli.command("send")
@click.argument("newsletter_id", type=int)
@click.option("--test", "test_addresses", multiple=True, metavar="ADRESSE",
              help="Nur eine Testmail an diese Adresse (mehrfach möglich), personalisiert wie für den ersten Empfänger.")
@click.option("--person", "person_id", type=int, help="Testmail personalisiert wie für diese Person (Nummer).")
def send_command(newsletter_id: int, test_addresses: tuple[str, ...], person_id: int | None):
    """Newsletter an seinen Empfängerkreis senden (wie „Jetzt senden“), oder mit --test eine Testmail."""
    newsletter = _newsletter(newsletter_id)
    if test_addresses:
        _send_test(newsletter, test_addresses, person_id)
        return
    try:
        queued = sending.start(newsletter, actor=None)
    except ValidationFailed as refused:
        raise click.ClickException(f"Nicht gesendet: {refused.message}")
    db.session.commit()
    click.echo(f"{queued} Empfänger in der Warteschlange; Versand läuft …")
    result = sending.deliver_now(newsletter.id)
    click.echo(f"{result.sent} versandt, {result.failed} fehlgeschlagen, {result.retry} werden später erneut versucht.")
    if result.stopped:
        raise click.ClickException(f"Versand unterbrochen: {result.stopped} (weiter mit `flask mail dispatch`).")


def _send_test(newsletter: Newsletter, addresses: tuple[str, ...], person_id: int | None) -> None:
    wrong = [address for address in addresses if email_error(address)]
    if wrong:
        raise click.ClickException(f"Keine gültige E-Mail-Adresse: {', '.join(wrong)}")
    person = recipient(person_id, sending.audience(newsletter, sample=1).sample)
    if person is None:
        raise click.ClickException("Der Empfängerkreis ist leer; mit --person NUMMER eine Person für die Anrede wählen.")
    result = send_test(newsletter, person, [normalize_email(a) for a in addresses])
    for address in result.sent:
        click.echo(f"Testmail an {address} gesendet (personalisiert für {person.full_name}).")
    if result.failed:
        raise click.ClickException("; ".join(f"{a}: {error}" for a, error in result.failed.items()))


@newsletters_cli.command("send-due")
def send_due_command():
    """Geplante Newsletter starten, deren Zeitpunkt gekommen ist (per cron, falls die App nicht läuft)."""
    started = sending.start_due()
    for newsletter_id in started:
        sending.deliver_now(newsletter_id)
    click.echo(f"{len(started)} geplante Newsletter gestartet.")
