# syntax=docker/dockerfile:1
# Mailroom's `mailroom` binary on Debian 12. Build: docker build -t mailroom:dev .
# (Used by docker-compose.yml's `migrate`, `topics` and `worker` services. Not built in CI: no Docker engine there.)

# ---- build: the official Swift image on bookworm, plus the C libraries' headers ----
FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libsodium-dev librdkafka-dev libpq-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so that a source change doesn't fetch them again.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product mailroom --static-swift-stdlib \
 && install -D "$(swift build -c release --show-bin-path)/mailroom" /out/mailroom

# ---- librdkafka 2.16, the version the tests run against ----
# Debian 12's librdkafka is 2.0.2, which lacks fetch.queue.backoff.ms: a worker draining a backlog would idle
# after each full prefetch queue (docs/OPERATIONS.md, "librdkafka version"). The confluent-kafka wheel carries a
# self-contained build; as scripts/bootstrap does, take it from there, at the same pin.
FROM python:3.11-slim-bookworm AS librdkafka
COPY scripts/lib/requirements-dev.txt scripts/lib/librdkafka_version.py /tmp/
RUN pin="$(grep -E '^confluent-kafka==' /tmp/requirements-dev.txt)" \
 && pip download --no-deps --only-binary=:all: --dest /wheel "$pin" \
 && python -m zipfile -e /wheel/confluent_kafka-*.whl /wheel/unpacked \
 && install -D /wheel/unpacked/confluent_kafka.libs/librdkafka-*.so.1 /out/librdkafka.so.1 \
 && version="$(python /tmp/librdkafka_version.py /out/librdkafka.so.1)" \
 && echo "librdkafka $version" \
 && case "$version" in 2.16.*) ;; *) echo "expected librdkafka 2.16.x" >&2; exit 1 ;; esac

# ---- runtime: slim Debian with the shared C libraries only ----
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libsodium23 libpq5 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin mailroom
WORKDIR /app
# librdkafka.so.1 from the stage above; nothing else on this image provides one.
COPY --from=librdkafka /out/librdkafka.so.1 /usr/local/lib/mailroom/librdkafka.so.1
ENV LD_LIBRARY_PATH=/usr/local/lib/mailroom
COPY --from=build /out/mailroom /usr/local/bin/mailroom
COPY Migrations ./Migrations
USER mailroom
# The worker's Prometheus endpoint when MAILROOM_WORKER_METRICS_PORT=9464 (docker-compose.yml).
EXPOSE 9464
CMD ["mailroom", "--help"]
