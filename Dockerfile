# Notejam web app. Build: docker build -t ghcr.io/notejam/notejam:<git sha> .
# Two stages: the build stage resolves and compiles dependencies; the runtime stage gets only the
# virtualenv and the app's packages (notejam, and json_logs, the log format it shares with the backup Lambdas):
# no compilers, no tests, no dev requirements.

FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements/app.txt /build/requirements/app.txt
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --require-virtualenv -r /build/requirements/app.txt
COPY src/notejam /app/notejam
COPY src/json_logs /app/json_logs
# The root filesystem is read-only at run time: compile bytecode now, it cannot be written later.
RUN python -m compileall -q /app/notejam /app/json_logs /opt/venv/lib

FROM python:3.11.14-slim-bookworm AS runtime
LABEL org.opencontainers.image.source="https://github.com/notejam/notejam" \
      org.opencontainers.image.title="notejam"
RUN groupadd --gid 10001 notejam \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin notejam
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
# The certificate authorities of Amazon RDS (all regions): libpq verifies the database's certificate and host name
# against them (PGSSLMODE=verify-full, PGSSLROOTCERT in base/config.env). AWS's documented download; Renovate cannot
# track it, and AWS adds new CAs to the same file, so it is fetched at each build.
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html
ADD --chmod=0444 https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem /opt/rds/global-bundle.pem
# Only /tmp is writable (an emptyDir in Kubernetes): metrics files, gunicorn's worker heartbeats, HOME.
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
WORKDIR /app
USER 10001:10001
EXPOSE 8000 8001
CMD ["gunicorn", "--config", "python:notejam.gunicorn_conf", "notejam:create_app()"]
