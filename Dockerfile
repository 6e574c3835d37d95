# logpipe service image: the scheduler (`logpipe serve`) with /healthz for the ECS health check, and the
# console and API (/ui, /api) behind a token or the ALB's OIDC sign-in. It listens on 0.0.0.0 in the
# container (LOGPIPE_SERVICE_HOST) so the ALB reaches it; outside a container the default is loopback.
# Build: docker build -t logpipe .   Run: docker run -p 8080:8080 -e LOGPIPE_STATE_URL=... logpipe
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    LOGPIPE_SERVICE_PORT=8080 \
    LOGPIPE_SERVICE_HOST=0.0.0.0

WORKDIR /opt/logpipe

# Dependencies first (a layer that changes only when pyproject.toml does), then the package itself
# with every extra the service may use on ECS (Athena, Datadog, PostgreSQL state, digest charts, the web
# console and its server); the
# shipped saved queries are package data (logpipe.shipped_queries).
COPY pyproject.toml README.md ./
RUN mkdir logpipe queries && touch logpipe/__init__.py \
    && pip install --no-cache-dir ".[all]" \
    && pip uninstall -y logpipe \
    && rm -rf logpipe queries build

# The pattern miner's compiled per-line loop (logpipe/patterns/_fastpath.c, an optional extension)
# is not built here: the slim base image has no C compiler (and setup.py, which declares it, is not
# copied), so the image runs the pure-Python loop, which gives the same patterns and ids, slower
# (`logpipe --debug patterns mine FILE` logs which loop runs). The service mines a few examples per
# pattern group, where that loop is not the cost; build on python:3.11 (with gcc) to have it.
COPY logpipe ./logpipe
COPY queries ./queries
RUN pip install --no-cache-dir --no-deps ".[all]" && rm -rf /opt/logpipe/build

RUN groupadd --system --gid 10001 logpipe \
    && useradd --system --uid 10001 --gid logpipe --home-dir /var/lib/logpipe --create-home logpipe \
    && logpipe query list > /dev/null

USER 10001:10001
WORKDIR /var/lib/logpipe
EXPOSE 8080

# No curl in a slim image: the standard library asks /healthz (exit 1 on anything but 200).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os,sys,urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('LOGPIPE_SERVICE_PORT', '8080'), timeout=4).status == 200 else 1)"]

# ECS sends SIGTERM on stop; `logpipe serve` finishes the running window and exits (stopTimeout 30 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["logpipe"]
CMD ["serve"]
