# syntax=docker/dockerfile:1
# Multi-stage: build the browser bundles with Node, install the locked Python set with uv,
# run on a slim Python image as a non-root user.

FROM node:22-bookworm-slim AS frontend
WORKDIR /src/widgets
COPY widgets/package.json widgets/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY widgets/ ./
COPY static/ /src/static/
RUN npm run build

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
WORKDIR /src
COPY requirements-uv.txt ./
RUN pip install --require-hashes -r requirements-uv.txt
# The locked runtime set and the project itself, non-editable, with the built assets as
# package data (live_server/_static). One step: the version is read from the sources.
COPY pyproject.toml uv.lock README.md LICENSE ./
COPY live_server/ live_server/
COPY geo/ geo/
COPY coupons/ coupons/
COPY loadtest/ loadtest/
COPY --from=frontend /src/static/ static/
RUN uv sync --locked --no-editable

FROM python:3.11-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    LIVE_HOST=0.0.0.0 \
    LIVE_PORT=8080 \
    LIVE_DATA_DIR=/data
RUN groupadd --system live && useradd --system --gid live --home-dir /app --shell /usr/sbin/nologin live \
 && mkdir -p /data && chown live:live /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER live
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD python -c "import os,urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('LIVE_PORT','8080'), timeout=2); sys.exit(0)" || exit 1
# Production: set LIVE_ENV=production, LIVE_SECRET and REDIS_URL (see compose.yaml).
CMD ["live-server", "serve"]
