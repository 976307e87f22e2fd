# CI stand-in for ghcr.io/mlflow/mlflow: the same MLflow release from PyPI, with boto3.
FROM debian:bookworm-slim
# host-ca.crt: the CA bundle of the machine building the image (scripts/compose-e2e.sh copies
# it; empty otherwise), for registries reached through a TLS-inspecting proxy.
COPY host-ca.crt /tmp/host-ca.crt
RUN apt-get update && apt-get install -y --no-install-recommends python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && if [ -s /tmp/host-ca.crt ]; then cp /tmp/host-ca.crt /etc/ssl/certs/pip-ca.crt; \
    else cp /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/pip-ca.crt; fi \
 && python3 -m venv /opt/mlflow \
 && PIP_CERT=/etc/ssl/certs/pip-ca.crt /opt/mlflow/bin/pip install --no-cache-dir mlflow==3.17.2 boto3
ENV PIP_CERT=/etc/ssl/certs/pip-ca.crt
ENV PATH=/opt/mlflow/bin:$PATH
