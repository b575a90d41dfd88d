# algosaas: one image for every process type (Procfile: release, web, worker).
# Build: docker build -t algosaas .   Run: docker compose up (compose.yaml).

# --- build: dependencies into a virtualenv, static files collected ---------------------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
COPY requirements.txt .
RUN python -m venv /venv && /venv/bin/pip install --no-cache-dir -r requirements.txt
COPY . .
# collectstatic needs settings, not secrets: throwaway keys that exist only in this stage.
RUN DJANGO_SETTINGS_MODULE=algosaas.settings.production \
    SECRET_KEY=build-stage-only-not-a-secret-0123456789abcdef \
    JWT_SIGNING_KEY=build-stage-only-not-a-secret-fedcba9876543210 \
    /venv/bin/python manage.py collectstatic --noinput

# --- runtime: the virtualenv and the app, run by an unprivileged user -----------------------
FROM python:3.11-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /app app
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=algosaas.settings.production \
    PORT=8000
WORKDIR /app
COPY --from=build /venv /venv
COPY --from=build --chown=root:root /app /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["gunicorn", "algosaas.asgi:application", "-k", "uvicorn_worker.UvicornWorker"]
