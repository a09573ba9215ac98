import os

from django.core.wsgi import get_wsgi_application

from mlopsportal.memory import arrow_allocates_with_malloc, malloc_arenas_limited

malloc_arenas_limited()  # before gunicorn starts its threads: see mlopsportal/memory.py
arrow_allocates_with_malloc()

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlopsportal.settings")
application = get_wsgi_application()
