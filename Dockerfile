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

# ---- runtime: slim Debian with the shared C libraries only ----
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libsodium23 librdkafka1 libpq5 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin mailroom
WORKDIR /app
COPY --from=build /out/mailroom /usr/local/bin/mailroom
COPY Migrations ./Migrations
USER mailroom
# The worker's Prometheus endpoint when MAILROOM_WORKER_METRICS_PORT=9464 (docker-compose.yml).
EXPOSE 9464
CMD ["mailroom", "--help"]
