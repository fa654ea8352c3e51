# One image for web, worker, beat and migrations (see docker-compose.yml).
FROM python:3.11-slim-bookworm
# One BLAS thread per process: web and worker processes are the unit of parallelism (see the Makefile).
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=config.settings.production \
    OPENBLAS_NUM_THREADS=1
WORKDIR /app
# The runtime lock alone first, so a code change reuses this layer: the versions the suite passed with, each file
# checked against its hash (README, "Dependencies").
COPY requirements/runtime.txt ./requirements/
RUN pip install --no-cache-dir --require-hashes -r requirements/runtime.txt
COPY pyproject.toml README.md ./
# the `signoff` command, its own distribution: installed from its folder, like the server, never from PyPI
COPY cli ./cli
COPY config ./config
COPY core ./core
COPY datasets ./datasets
COPY models_app ./models_app
COPY webhooks ./webhooks
COPY notifications ./notifications
COPY reviews ./reviews
COPY integrations ./integrations
COPY inspections ./inspections
COPY templates ./templates
COPY static ./static
COPY manage.py ./
RUN pip install --no-cache-dir --no-deps ./cli . \
 && SECRET_KEY=build-only ALLOWED_HOSTS=build DATABASE_URL=sqlite:////tmp/build.sqlite3 CELERY_BROKER_URL=memory:// \
    python manage.py collectstatic --noinput \
 && useradd --system --uid 10001 signoff && mkdir -p /app/var && chown -R signoff /app/var
USER signoff
EXPOSE 8000
# gthread, 3 workers x 4 threads, the app preloaded once in the master: measured best on 2 cores with the worker
# running (docs/bench-next-task.md, 2026-12-06); keep docker-compose.yml and bin/serve-embedded the same.
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", "--preload"]
