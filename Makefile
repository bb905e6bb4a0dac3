# Two commands do everything on a fresh machine: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := wsgi.py

.PHONY: setup run test browser imap redis db

$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

setup: $(VENV)/.installed

db: setup
	@mkdir -p instance
	$(FLASK) db upgrade
	$(FLASK) demo load

## Run the app on the embedded default: SQLite in instance/, mail as files in instance/outbox/.
run: db
	@echo ""
	@echo "CRM: http://$(HOST):$(PORT)/  (Beenden mit Strg+C)"
	@echo ""
	$(FLASK) run --host $(HOST) --port $(PORT)

## Debian's Chromium for the browser tests (Playwright's own browser download does not work here).
browser:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "Bitte Debian-Paket 'chromium' installieren (apt-get install chromium)."; exit 1; fi; }

## Debian's Dovecot for the IMAP tests of `flask mail process-bounces`: the tests start their own server
## on a free port with a configuration of their own; the package's system service is not used.
imap:
	@test -x /usr/sbin/dovecot || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null; \
	  else echo "Bitte Debian-Paket 'dovecot-imapd' installieren (apt-get install dovecot-imapd)."; exit 1; fi; }

## Debian's Redis for the engine tests (tests/engine start their own redis-server and Celery workers).
redis:
	@test -x /usr/bin/redis-server || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else echo "Bitte Debian-Paket 'redis-server' installieren (apt-get install redis-server)."; exit 1; fi; }

## Run the whole test suite (SQLite; set CRM_TEST_DATABASE_URL for PostgreSQL).
test: setup browser imap redis
	$(PY) -m pytest $(PYTEST_ARGS)
