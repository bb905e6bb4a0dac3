"""Configuration classes; every setting comes from a CRM_* environment variable or .env."""
import os
import tempfile
from pathlib import Path

from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent
load_dotenv(BASE_DIR / ".env")

DEV_SECRET_KEY = "dev-only-insecure-secret-key"


def env(name: str, default: str | None = None) -> str | None:
    """Read CRM_<name> from the environment."""
    return os.environ.get(f"CRM_{name}", default)


def env_int(name: str, default: int) -> int:
    return int(env(name) or default)


def env_float(name: str, default: float) -> float:
    return float(env(name) or default)


def redis_url(url: str | None) -> str | None:
    """`url` if it points at Redis (the Celery broker may be another kind)."""
    return url if url and url.startswith(("redis://", "rediss://", "unix://")) else None


class Config:
    """Settings shared by every environment."""

    ENV_NAME = "development"
    SECRET_KEY = env("SECRET_KEY", DEV_SECRET_KEY)
    SQLALCHEMY_DATABASE_URI = env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'instance' / 'crm.sqlite'}")
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    # Mail
    MAIL_BACKEND = env("MAIL_BACKEND", "file")  # smtp | file
    MAIL_FROM = env("MAIL_FROM", "Kommune 2.0 e. V. <geschaeftsstelle@example.org>")
    MAIL_REPLY_TO = env("MAIL_REPLY_TO")
    MAIL_OUTBOX_DIR = env("MAIL_OUTBOX_DIR", str(BASE_DIR / "instance" / "outbox"))
    SMTP_HOST = env("SMTP_HOST", "localhost")
    SMTP_PORT = env_int("SMTP_PORT", 25)
    SMTP_USER = env("SMTP_USER")
    SMTP_PASSWORD = env("SMTP_PASSWORD")
    SMTP_TLS = env("SMTP_TLS", "none")  # starttls | ssl | none
    SMTP_TIMEOUT = env_int("SMTP_TIMEOUT", 30)
    # Several SMTP servers sharing the load (crm.mail.pool), comma-separated URLs, e.g.
    # "smtp://user:password@mail1.example.org:587?tls=starttls&rate=50,smtps://mail2.example.org?rate=20"
    # (tls=none|starttls|ssl, rate: messages per second, burst: how many at once). Empty: the one above.
    SMTP_SERVERS = env("SMTP_SERVERS", "")
    SMTP_RATE_PER_SECOND = env_float("SMTP_RATE_PER_SECOND", 0)  # rate of the single server above (0: none)
    SMTP_SERVER_COOLDOWN = env_int("SMTP_SERVER_COOLDOWN", 60)  # seconds a server is left out after failing or 421
    # Bulk mailings (crm.mail.pipeline): messages per batch and commit, how long a worker's claim on
    # a batch lasts, and retries of temporary failures (4xx, no connection) with backoff.
    MAIL_BATCH_SIZE = env_int("MAIL_BATCH_SIZE", 500)
    MAIL_CLAIM_SECONDS = env_int("MAIL_CLAIM_SECONDS", 10 * 60)
    MAIL_RETRY_SECONDS = env_int("MAIL_RETRY_SECONDS", 5 * 60)  # doubled after each attempt
    MAIL_MAX_ATTEMPTS = env_int("MAIL_MAX_ATTEMPTS", 5)
    #: Where sending processes note each message as they hand it over, until it is recorded
    #: (crm.mail.journal): on a local disk of the machine that sends, kept across restarts.
    MAIL_JOURNAL_DIR = env("MAIL_JOURNAL_DIR", str(BASE_DIR / "instance" / "mail-journal"))
    # Rate limits (crm.mail.ratelimit, token buckets; messages per second, 0: none): all bulk mail
    # together, per recipient domain ("gmail.com=10,web.de=20") and for every other domain.
    MAIL_RATE_PER_SECOND = env_float("MAIL_RATE_PER_SECOND", 0)
    MAIL_DOMAIN_RATES = env("MAIL_DOMAIN_RATES", "")
    MAIL_DOMAIN_RATE = env_float("MAIL_DOMAIN_RATE", 0)
    #: Redis that keeps the rate buckets, so that all worker processes share the rates; default: the
    #: Celery broker if that is Redis. Without one each process keeps its own buckets.
    MAIL_RATE_REDIS_URL = env("MAIL_RATE_REDIS_URL") or redis_url(env("CELERY_BROKER_URL"))
    # A mailing pauses itself when more than this share of its last MAIL_PAUSE_WINDOW delivery
    # attempts failed (judged from MAIL_PAUSE_MIN_ATTEMPTS attempts on; 0 switches it off).
    MAIL_PAUSE_ERROR_RATE = env_float("MAIL_PAUSE_ERROR_RATE", 0.3)
    MAIL_PAUSE_WINDOW = env_int("MAIL_PAUSE_WINDOW", 50)
    MAIL_PAUSE_MIN_ATTEMPTS = env_int("MAIL_PAUSE_MIN_ATTEMPTS", 20)
    # DKIM signature on every outgoing mail (crm.mail.dkim): PEM file of the RSA key, the selector
    # (DNS: <selector>._domainkey.<domain>) and the domain (default: that of MAIL_FROM). No file: unsigned.
    DKIM_PRIVATE_KEY_FILE = env("DKIM_PRIVATE_KEY_FILE")
    DKIM_SELECTOR = env("DKIM_SELECTOR")
    DKIM_DOMAIN = env("DKIM_DOMAIN")
    # Bounces after acceptance (crm.mail.bounces). With a bounce address, every bulk delivery gets its own
    # signed envelope sender bounces+<id>-<signature>@…; `flask mail process-bounces` reads the DSNs from
    # the IMAP mailbox below (or a Maildir). Without it the envelope sender is the From address.
    BOUNCE_ADDRESS = env("BOUNCE_ADDRESS")
    BOUNCE_IMAP_HOST = env("BOUNCE_IMAP_HOST")
    BOUNCE_IMAP_PORT = env_int("BOUNCE_IMAP_PORT", 0)  # 0: 993 with ssl, else 143
    BOUNCE_IMAP_USER = env("BOUNCE_IMAP_USER")
    BOUNCE_IMAP_PASSWORD = env("BOUNCE_IMAP_PASSWORD")
    BOUNCE_IMAP_FOLDER = env("BOUNCE_IMAP_FOLDER", "INBOX")
    BOUNCE_IMAP_DONE_FOLDER = env("BOUNCE_IMAP_DONE_FOLDER", "Verarbeitet")  # processed DSNs go here
    BOUNCE_IMAP_TLS = env("BOUNCE_IMAP_TLS", "ssl")  # ssl | starttls | none

    # Newsletters. The Impressum (§ 5 DDG) goes into every newsletter; sending is refused while a
    # required part is empty. The demo values of development and tests are set below.
    IMPRINT_NAME = env("IMPRINT_NAME", "")
    IMPRINT_ADDRESS = env("IMPRINT_ADDRESS", "")  # postal address, no P.O. box
    IMPRINT_REPRESENTATIVES = env("IMPRINT_REPRESENTATIVES", "")  # "Vorstand: …" (entitled to represent)
    IMPRINT_REGISTER = env("IMPRINT_REGISTER", "")  # "Vereinsregister Amtsgericht …, VR …"
    IMPRINT_CONTACT = env("IMPRINT_CONTACT", "")  # e-mail and phone
    IMPRINT_VAT_ID = env("IMPRINT_VAT_ID", "")  # optional
    IMPRINT_URL = env("IMPRINT_URL", "")  # optional: the full Impressum on the web
    #: List-Id (RFC 2919) of the newsletter; default "newsletter.<domain of MAIL_FROM>".
    NEWSLETTER_LIST_ID = env("NEWSLETTER_LIST_ID")
    #: Address for unsubscribe requests by mail (List-Unsubscribe mailto); default: BOUNCE_ADDRESS (whose mailbox
    #: `flask mail process-bounces` reads and processes them), else the MAIL_FROM address.
    UNSUBSCRIBE_MAILTO = env("UNSUBSCRIBE_MAILTO")
    #: How long a newsletter sign-up waits for its confirmation (seconds).
    SIGNUP_CONFIRM_MAX_AGE = env_int("SIGNUP_CONFIRM_MAX_AGE", 60 * 60 * 48)
    #: Personal links in newsletters (preference centre): how long they work (seconds).
    PREFERENCES_LINK_MAX_AGE = env_int("PREFERENCES_LINK_MAX_AGE", 60 * 60 * 24 * 365)

    #: Reverse proxies in front of the app (nginx: 1). Their X-Forwarded-For/-Proto/-Host headers then give the
    #: client's address (consent ledger, login throttling) and the https scheme; 0 ignores them (spoofable).
    PROXIES = env_int("PROXIES", 0)
    #: Absolute base URL for links in mails sent outside a request (CLI, workers).
    BASE_URL = env("BASE_URL", "http://127.0.0.1:5000")
    ORGANIZATION_NAME = env("ORGANIZATION_NAME", "Kommune 2.0 e. V.")

    # Accounts
    PASSWORD_RESET_MAX_AGE = env_int("PASSWORD_RESET_MAX_AGE", 60 * 60 * 24)  # seconds
    INVITATION_MAX_AGE = env_int("INVITATION_MAX_AGE", 60 * 60 * 24 * 14)  # portal invitations
    LOGIN_LINK_MAX_AGE = env_int("LOGIN_LINK_MAX_AGE", 60 * 30)  # one-time login links
    EMAIL_CONFIRM_MAX_AGE = env_int("EMAIL_CONFIRM_MAX_AGE", 60 * 60 * 48)  # new email address
    RSVP_LINK_MAX_AGE = env_int("RSVP_LINK_MAX_AGE", 60 * 60 * 24 * 400)  # event answers; also end with the event
    REMINDER_OPEN_DAYS = env_int("REMINDER_OPEN_DAYS", 3)  # remind open invitations this long before the deadline
    REMINDER_UPCOMING_DAYS = env_int("REMINDER_UPCOMING_DAYS", 2)  # remind participants this long before the start
    REMINDER_QUIET_HOURS = env_int("REMINDER_QUIET_HOURS", 24)  # no automatic reminder this soon after the invitation or answer
    PASSWORD_MIN_LENGTH = 10
    LOGIN_THROTTLE_LIMIT = env_int("LOGIN_THROTTLE_LIMIT", 5)  # failures per window
    LOGIN_THROTTLE_WINDOW = env_int("LOGIN_THROTTLE_WINDOW", 15 * 60)  # seconds
    PASSWORD_HASH_METHOD = "scrypt"

    PER_PAGE = 50
    MAX_CONTENT_LENGTH = env_int("MAX_UPLOAD_MB", 50) * 1024 * 1024
    IMPORT_DIR = env("IMPORT_DIR", str(BASE_DIR / "instance" / "imports"))
    TASKS_INLINE = False
    #: The scheduler (crm.tasks): starts scheduled newsletters, queues due reminders and resumes mailings
    #: this often; 0 switches it off. A thread of the web process, or Celery beat with the production engine.
    SCHEDULER_SECONDS = env_int("SCHEDULER_SECONDS", 30)
    #: The production engine (crm.engine): with a broker (redis://…), background work and the scheduler run
    #: as Celery tasks on worker processes; unset, in threads of the web process (the embedded default).
    CELERY_BROKER_URL = env("CELERY_BROKER_URL")
    #: How many dispatch tasks share one mailing with Celery (each claims batches until the queue is empty).
    CELERY_DISPATCH_TASKS = env_int("CELERY_DISPATCH_TASKS", 4)
    TIMEZONE = "Europe/Berlin"
    SHOW_OUTBOX = True


#: The Impressum of the demo association (development and tests; production sets its own).
DEMO_IMPRINT = {
    "IMPRINT_NAME": "Kommune 2.0 e. V. (Demo)",
    "IMPRINT_ADDRESS": "Beispielstraße 1, 10115 Berlin",
    "IMPRINT_REPRESENTATIVES": "Vorstand: Erika Beispiel (Vorsitzende), Max Muster (stellv. Vorsitzender)",
    "IMPRINT_REGISTER": "Vereinsregister Amtsgericht Charlottenburg, VR 00000 B (Demo)",
    "IMPRINT_CONTACT": "geschaeftsstelle@example.org, Telefon 030 0000000",
}


class DevelopmentConfig(Config):
    """Embedded default: SQLite under instance/, mail as .eml files in instance/outbox/."""

    DEBUG = False


class TestConfig(Config):
    """Tests: in-memory SQLite unless CRM_TEST_DATABASE_URL points at PostgreSQL."""

    ENV_NAME = "test"
    TESTING = True
    SECRET_KEY = "test-secret-key-not-for-production"
    SQLALCHEMY_DATABASE_URI = env("TEST_DATABASE_URL", "sqlite://")
    WTF_CSRF_ENABLED = False
    MAIL_BACKEND = "smtp"
    SMTP_HOST = "127.0.0.1"
    BASE_URL = "http://crm.test"
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # fast hashing keeps the suite quick
    TASKS_INLINE = True  # background work runs at once, inside the test's transaction
    MAIL_RATE_REDIS_URL = None  # the rate tests start their own Redis
    DKIM_PRIVATE_KEY_FILE = None  # the DKIM tests make their own key
    CELERY_BROKER_URL = None  # the engine tests (tests/engine) start their own broker and workers
    IMPORT_DIR = os.path.join(tempfile.gettempdir(), "crm-test-imports")
    MAIL_JOURNAL_DIR = tempfile.mkdtemp(prefix="crm-test-journal-")  # one per test run


for _key, _value in DEMO_IMPRINT.items():
    setattr(DevelopmentConfig, _key, env(_key, _value))
    setattr(TestConfig, _key, _value)


class ProductionConfig(Config):
    """Production: refuses to start without a real secret and database."""

    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = True
    REMEMBER_COOKIE_HTTPONLY = True
    PREFERRED_URL_SCHEME = "https"
    SHOW_OUTBOX = False

    @classmethod
    def check(cls) -> None:
        """Raise if the deployment lacks the settings production needs."""
        if not env("SECRET_KEY") or env("SECRET_KEY") == DEV_SECRET_KEY or len(env("SECRET_KEY")) < 32:
            raise RuntimeError("CRM_SECRET_KEY must be set to a random value of at least 32 characters.")
        if not env("DATABASE_URL"):
            raise RuntimeError("CRM_DATABASE_URL must be set in production.")


CONFIGS = {
    "development": DevelopmentConfig,
    "test": TestConfig,
    "production": ProductionConfig,
}


def config_from_env() -> type[Config]:
    """Pick the configuration class named by CRM_ENV (default: development)."""
    name = env("ENV", "development")
    if name not in CONFIGS:
        raise RuntimeError(f"CRM_ENV must be one of {', '.join(CONFIGS)}, not {name!r}.")
    return CONFIGS[name]
