# CFDI Bot as a container: slim Python 3.11, a non-root user, the audit log on a volume.
#   docker build -t cfdi-bot .
#   docker run -d --name cfdi-bot --env-file .env -v cfdi-data:/data -p 3000:3000 cfdi-bot
# HTTP mode publishes PORT (Slack posts to /slack/events); Socket Mode needs no port.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    AUDIT_DB=/data/audit.db PORT=3000

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin cfdi \
    && mkdir /data && chown cfdi /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
RUN pip install . && rm -rf /app/*

USER cfdi
WORKDIR /data
VOLUME ["/data"]
EXPOSE 3000
# /healthz answers in HTTP mode: the audit file writable, the provider client built, the
# watcher's last cycle recent. (Socket Mode serves no HTTP: use `docker ps` restarts there.)
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"3000\")}/healthz', timeout=4)" || exit 1
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot", "run"]
