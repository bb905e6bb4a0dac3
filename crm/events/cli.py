"""`flask events …`: the daily jobs of invitations (reminders, deleting health data after events)."""
import click
from flask.cli import AppGroup

from crm.events.needs import purge_ended_needs
from crm.events.sending import deliver_now, queue_due_reminders
from crm.extensions import db

events_cli = AppGroup("events", help="Veranstaltungen: Erinnerungen und Datenschutz.")


@events_cli.command("send-reminders")
def send_reminders_command():
    """Fällige Erinnerungen versenden (macht auch der Scheduler; jede Erinnerung höchstens einmal pro Person)."""
    events = queue_due_reminders()
    db.session.commit()
    sent = sum(deliver_now(event.id) for event in events)
    click.echo(f"{sent} Erinnerungen zu {len(events)} Veranstaltungen versandt.")


@events_cli.command("purge-needs")
def purge_needs_command():
    """Angaben zu Verpflegung und Barrierefreiheit vergangener Veranstaltungen löschen (Art. 9 DSGVO)."""
    number = purge_ended_needs()
    db.session.commit()
    click.echo(f"{number} Angaben zu Verpflegung und Barrierefreiheit gelöscht.")
