# CI stand-in for MinIO: moto's S3 server from PyPI (the tested choice; see the README).
FROM debian:bookworm-slim
# host-ca.crt: the CA bundle of the machine building the image (scripts/compose-e2e.sh copies
# it; empty otherwise), for registries reached through a TLS-inspecting proxy.
COPY host-ca.crt /tmp/host-ca.crt
RUN apt-get update && apt-get install -y --no-install-recommends python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && if [ -s /tmp/host-ca.crt ]; then cp /tmp/host-ca.crt /etc/ssl/certs/pip-ca.crt; \
    else cp /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/pip-ca.crt; fi \
 && python3 -m venv /opt/moto \
 && PIP_CERT=/etc/ssl/certs/pip-ca.crt /opt/moto/bin/pip install --no-cache-dir "moto[server]==5.2.5"
ENV PIP_CERT=/etc/ssl/certs/pip-ca.crt
ENV PATH=/opt/moto/bin:$PATH
EXPOSE 9000
CMD ["moto_server", "-H", "0.0.0.0", "-p", "9000"]
