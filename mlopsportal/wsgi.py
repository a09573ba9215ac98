import os

from django.core.wsgi import get_wsgi_application

from mlopsportal.memory import malloc_arenas_limited

malloc_arenas_limited()  # before gunicorn starts its threads: see mlopsportal/memory.py

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlopsportal.settings")
application = get_wsgi_application()
