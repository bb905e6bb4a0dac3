"""Sending single transactional mails (account mails); bulk mailings build on the same parts."""
import logging

from flask import current_app, url_for

from crm.mail.message import build_message, recipient
from crm.mail.render import render_mail
from crm.mail.transports import get_transport

logger = logging.getLogger(__name__)


def external_url(endpoint: str, **values) -> str:
    """An absolute link for a mail, on CRM_BASE_URL (also outside a request: CLI, workers)."""
    with current_app.test_request_context("/", base_url=current_app.config["BASE_URL"].rstrip("/")):
        return url_for(endpoint, _external=True, **values)


def send_mail(*, to_email: str, to_name: str | None, subject: str, template: str, **context) -> str:
    """Render templates/email/<template>.{mjml,txt}, send it now, return the Message-ID."""
    html, text = render_mail(template, subject=subject, **context)
    config = current_app.config
    msg = build_message(
        sender=config["MAIL_FROM"],
        to=recipient(to_name, to_email),
        subject=subject,
        text=text,
        html=html,
        reply_to=config["MAIL_REPLY_TO"],
    )
    transport = get_transport()
    try:
        transport.send(msg)
    finally:
        transport.close()
    logger.info("Mail %r sent to %s (%s)", subject, to_email, msg["Message-ID"])
    return msg["Message-ID"]
