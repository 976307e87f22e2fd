# CI stand-in for prom/prometheus and prom/alertmanager: Debian's packages.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends prometheus prometheus-alertmanager wget \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /prometheus /alertmanager && chmod 777 /prometheus /alertmanager \
 && ln -s /usr/bin/prometheus-alertmanager /bin/alertmanager
