"""The member CRM and newsletter service."""
import logging
from pathlib import Path

from flask import Flask

from config import Config, ProductionConfig, config_from_env

ROOT = Path(__file__).resolve().parent.parent


def create_app(config_class: type[Config] | None = None) -> Flask:
    """Create and configure the application."""
    config_class = config_class or config_from_env()
    if issubclass(config_class, ProductionConfig):
        config_class.check()
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_object(config_class)
    if app.config["PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("crm").setLevel(logging.INFO)

    from crm import models  # noqa: F401  (registers every model with the metadata)
    from crm.extensions import MigrationCommands, csrf, db, login_manager

    db.init_app(app)
    app.cli.add_command(MigrationCommands())
    csrf.init_app(app)
    login_manager.init_app(app)
    if app.config.get("CELERY_BROKER_URL"):
        from crm.engine.celery import init_celery

        init_celery(app)

    from crm.errors import register_error_handlers
    from crm.security import enforce_access
    from crm.tasks import start_scheduler
    from crm.templating import register_template_helpers

    register_error_handlers(app)
    register_template_helpers(app)
    _check_mail_settings(app)
    app.before_request(enforce_access)
    app.after_request(_security_headers)
    app.before_request(lambda: start_scheduler(app))
    _register_blueprints(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from crm.auth.cli import users_cli
    from crm.auth.views import bp as auth_bp
    from crm.auth.admin_views import bp as users_bp
    from crm.audit.views import bp as audit_bp
    from crm.contacts.views.affiliations import bp as affiliations_bp
    from crm.contacts.views.duplicates import bp as duplicates_bp
    from crm.contacts.views.imports import bp as imports_bp
    from crm.contacts.views.organizations import bp as organizations_bp
    from crm.contacts.views.people import bp as people_bp
    from crm.contacts.views.segments import bp as segments_bp
    from crm.dashboard.views import bp as dashboard_bp
    from crm.demo.cli import demo_cli
    from crm.engine.health import bp as health_bp
    from crm.events.views import bp as events_bp
    from crm.events.cli import events_cli
    from crm.events.invitation_views import bp as invitations_bp
    from crm.events.review_views import bp as reviews_bp
    from crm.events.rsvp_views import bp as rsvp_bp
    from crm.mail.cli import mail_cli
    from crm.mail.suppression_views import bp as suppressions_bp
    from crm.mail.views import bp as mail_bp
    from crm.members.office_views import bp as memberships_bp
    from crm.newsletters.archive_views import bp as archive_bp
    from crm.newsletters.cli import newsletters_cli
    import crm.newsletters.mailer  # noqa: F401 - registers the newsletter's renderer with the pipeline
    import crm.newsletters.mail_unsubscribe  # noqa: F401 - registers unsubscribe requests by mail with the bounce mailbox
    from crm.newsletters.sending_views import bp as newsletter_sending_bp
    from crm.newsletters.subscription_views import bp as subscription_bp
    from crm.newsletters.views import bp as newsletters_bp
    from crm.portal.office_views import bp as portal_office_bp
    from crm.portal.views import bp as portal_bp

    for blueprint in (
        auth_bp, users_bp, dashboard_bp, health_bp, mail_bp, portal_bp,
        people_bp, affiliations_bp, duplicates_bp, organizations_bp, segments_bp, imports_bp, audit_bp,
        portal_office_bp, memberships_bp, events_bp, invitations_bp, reviews_bp, rsvp_bp, archive_bp,
        subscription_bp, newsletters_bp, newsletter_sending_bp, suppressions_bp,
    ):  # fmt: skip
        app.register_blueprint(blueprint)
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(mail_cli)
    app.cli.add_command(events_cli)
    app.cli.add_command(newsletters_cli)


def _check_mail_settings(app: Flask) -> None:
    """Refuse to start with mail settings that cannot work (a DKIM key that cannot be read, a bad server URL)."""
    from crm.mail import dkim
    from crm.mail.pool import server_configs
    from crm.mail.ratelimit import parse_rates

    dkim.init_app(app)
    server_configs(app.config)
    parse_rates(app.config["MAIL_DOMAIN_RATES"])


def _security_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
