#!/usr/bin/env bash
# Builds debian:bookworm-slim locally (for machines that cannot pull images): a minbase
# debootstrap trimmed the way the official slim image is (no docs, man pages, locales or apt
# lists), imported into Docker. Idempotent: does nothing when the image exists.
set -euo pipefail

if docker image inspect debian:bookworm-slim > /dev/null 2>&1; then
  echo "docker-base: debian:bookworm-slim is present"
  exit 0
fi
if ! command -v debootstrap > /dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap > /dev/null
fi
root=$(mktemp -d -t bookworm-root.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "docker-base: debootstrap --variant=minbase bookworm (a few minutes)"
debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian > /dev/null
rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
  "$root"/usr/share/locale/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
  "$root"/var/lib/apt/lists/* "$root"/var/log/*
tar -C "$root" -c . | docker import - debian:bookworm-slim > /dev/null
echo "docker-base: imported debian:bookworm-slim ($(docker image inspect -f '{{.Size}}' debian:bookworm-slim) bytes)"
