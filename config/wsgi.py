import gc
import os
from importlib import import_module

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from core.queue import publishing_prepare

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
application = get_wsgi_application()
# The URLconf (every view, the API, the schema) is imported here rather than by the first request: the process
# is ready when it says so, and under gunicorn --preload (bin/serve-embedded) the forked workers share the import.
import_module(settings.ROOT_URLCONF)
publishing_prepare()  # Celery's first message would otherwise import ~95 modules inside a reviewer's judgment
# Everything imported so far lives as long as the process: moved out of the garbage collector's view, a full
# collection no longer walks its ~115,000 objects (~30 ms with every thread of the process held: the tail of
# request latency), and under --preload the forked workers do not write to the shared pages by collecting them.
gc.freeze()
