import os
from importlib import import_module

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
application = get_wsgi_application()
# The URLconf (every view, the API, the schema) is imported here rather than by the first request: the process
# is ready when it says so, and under gunicorn --preload (bin/serve-embedded) the forked workers share the import.
import_module(settings.ROOT_URLCONF)
