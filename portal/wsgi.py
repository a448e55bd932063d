import os

from django.core.wsgi import get_wsgi_application

from portal.celery import SETTINGS_FROM_ENVIRONMENT

# A WSGI server is production: without DJANGO_SETTINGS_MODULE it gets the production
# settings, which refuse to start without SECRET_KEY and ALLOWED_HOSTS, never the demo
# (DEBUG on, the demo key). portal/__init__.py (the Celery app) has already set the demo
# default by now, hence what the environment said before it. runserver sets it (manage.py).
os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_FROM_ENVIRONMENT or "portal.settings.production"
application = get_wsgi_application()
