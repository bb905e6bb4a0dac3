"""What the Celery commands load: `celery -A crm.celery_app worker|beat` and `python -m crm.worker`.

The Flask app is created from the environment as for the web processes (CRM_ENV, CRM_DATABASE_URL,
CRM_CELERY_BROKER_URL, …), and `app` is its Celery app (crm.engine.celery).
"""
from crm import create_app
from crm.engine.celery import worker_app

flask_app = create_app()
app = worker_app(flask_app)
