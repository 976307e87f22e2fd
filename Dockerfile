# One image for the whole fleet: the multi-call `seizure-ops` binary runs every service and
# pipeline stage (`seizure-ops auth`, `seizure-ops inference`, `seizure-ops training`, ...).
#
#   docker build -t seizure-ops .                       # builds the binary in the rust stage
#   docker build --build-arg BINARIES=prebuilt -t seizure-ops .
#       # copies docker-bin/seizure-ops built on the host instead (CI without registry access;
#       # scripts/compose-e2e.sh does this). Both need BuildKit (DOCKER_BUILDKIT=1).
ARG BINARIES=builder

FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p seizure-ops --features fleet \
 && mkdir -p /out \
 && strip -o /out/seizure-ops target/release/seizure-ops

FROM debian:bookworm-slim AS prebuilt
COPY docker-bin/seizure-ops /out/seizure-ops

FROM ${BINARIES} AS binaries

# Only the CA bundle (for HTTPS to S3 or MLflow), not the package with its OpenSSL
# dependencies: 0.2 MB instead of 11 MB.
FROM debian:bookworm-slim AS certificates
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*

FROM debian:bookworm-slim
COPY --from=certificates /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN useradd --system --uid 10001 --user-group --home-dir /srv --no-create-home seizure \
 && mkdir -p /srv/work /srv/model /srv/keys \
 && chown -R seizure:seizure /srv
COPY --from=binaries /out/seizure-ops /usr/local/bin/seizure-ops
USER seizure
WORKDIR /srv/work
ENV LOG_FORMAT=json \
    HEALTHCHECK_URL=""
# Services set HEALTHCHECK_URL (their /health/ready); one-shot jobs leave it empty.
HEALTHCHECK --interval=5s --timeout=4s --start-period=10s --retries=5 \
    CMD ["/bin/sh", "-c", "[ -z \"$HEALTHCHECK_URL\" ] || exec seizure-ops healthcheck \"$HEALTHCHECK_URL\""]
ENTRYPOINT ["seizure-ops"]
CMD ["--help"]
