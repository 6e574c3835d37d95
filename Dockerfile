# logpipe service image: the scheduler (`logpipe serve`) with /healthz for the ECS health check, and the
# console and API (/ui, /api) behind a token or the ALB's OIDC sign-in. It listens on 0.0.0.0 in the
# container (LOGPIPE_SERVICE_HOST) so the ALB reaches it; outside a container the default is loopback.
# Build: docker build -t logpipe .   Run: docker run -p 8080:8080 -e LOGPIPE_STATE_URL=... logpipe
# Stage 1 builds wheels on the full Python image (it has gcc: the pattern miner's compiled per-line
# loop, logpipe/patterns/_fastpath.c, is built here; setup.py declares it and maps queries/ to the
# package logpipe.shipped_queries). Stage 2 installs them on the slim image, with no compiler in it.
FROM python:3.11-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src

# Dependencies first (a layer that changes only when pyproject.toml or setup.py do): every extra the
# service may use on ECS (Athena, Datadog, PostgreSQL state, digest charts, the web console and its
# server), built against a stub package (the version attribute is all setuptools reads from it).
COPY pyproject.toml setup.py README.md ./
RUN mkdir -p logpipe queries \
    && echo '__version__ = "0"' > logpipe/__init__.py \
    && pip wheel --no-cache-dir --wheel-dir /wheels ".[all]" \
    && rm -f /wheels/logpipe-*.whl \
    && rm -rf logpipe queries build

COPY logpipe ./logpipe
COPY queries ./queries
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && python -c "import glob, zipfile; names = zipfile.ZipFile(glob.glob('/wheels/logpipe-*.whl')[0]).namelist(); \
assert any(n.startswith('logpipe/shipped_queries/') and n.endswith('.sql') for n in names), 'no shipped queries'; \
assert any(n.startswith('logpipe/patterns/_fastpath') for n in names), 'the compiled loop was not built'"

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    LOGPIPE_SERVICE_PORT=8080 \
    LOGPIPE_SERVICE_HOST=0.0.0.0

# Only the wheels: no source tree, no compiler in the image.
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels "logpipe[all]" \
    && rm -rf /wheels

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
