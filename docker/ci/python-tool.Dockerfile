# CI stand-in for a third-party image whose software is on PyPI (moto for MinIO; MLflow):
# PACKAGES installed in a venv on debian:bookworm-slim.
FROM debian:bookworm-slim
ARG PACKAGES
# host-ca.crt: the CA bundle of the machine building the image (scripts/compose-e2e.sh copies
# it; empty otherwise), for registries reached through a TLS-inspecting proxy.
COPY host-ca.crt /tmp/host-ca.crt
RUN apt-get update && apt-get install -y --no-install-recommends python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && if [ -s /tmp/host-ca.crt ]; then cp /tmp/host-ca.crt /etc/ssl/certs/pip-ca.crt; \
    else cp /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/pip-ca.crt; fi \
 && python3 -m venv /opt/tool \
 && PIP_CERT=/etc/ssl/certs/pip-ca.crt /opt/tool/bin/pip install --no-cache-dir $PACKAGES
ENV PIP_CERT=/etc/ssl/certs/pip-ca.crt \
    PATH=/opt/tool/bin:$PATH
