# The engage platform: one image for `engage run` workers and one-off commands.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY channels ./channels
COPY consultations ./consultations
COPY adapters ./adapters
COPY storage ./storage
COPY migrations ./migrations
COPY examples ./examples
RUN pip install . && useradd --system --home /app engage
USER engage

ENV ENGAGE_HTTP_HOST=0.0.0.0 ENGAGE_HTTP_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz')"
CMD ["engage", "run"]
