"""The production engine: Celery workers and beat behind crm.tasks, and the health check.

`crm.engine.celery` binds a Celery app to the Flask app (created only when CRM_CELERY_BROKER_URL is
set); `crm.celery_app` is what `celery -A crm.celery_app worker|beat` and `python -m crm.worker` load;
`crm.engine.health` answers GET /health for load balancers and monitoring. See docs/deployment.md.
"""
