#!/usr/bin/env bash
# Fetches the real UCI "Epileptic Seizure Recognition" CSV for CI machines that lack
# ../shared/data (GitHub runners) and verifies it byte for byte by md5 before anything uses it.
#
#   scripts/fetch-real-data.sh DEST.csv [SOURCE]
#
# SOURCE (default $REAL_DATA_URL, else the UCI archive) is an http(s) URL or a local file,
# either the CSV itself or a zip holding it. Exits non-zero, writing nothing at DEST, when the
# bytes are not exactly the file the project's figures come from (if the archive ever serves
# other bytes, point REAL_DATA_URL at a mirror of that file). Idempotent: a DEST that already
# verifies is kept.
set -euo pipefail

expected_md5=6fd90d64def591ae3c8de83bc8dc7348
dest=${1:?usage: fetch-real-data.sh DEST.csv [SOURCE]}
source=${2:-${REAL_DATA_URL:-https://archive.ics.uci.edu/static/public/388/epileptic+seizure+recognition.zip}}

md5_of() { md5sum "$1" | cut -d' ' -f1; }

if [[ -f "$dest" && "$(md5_of "$dest")" == "$expected_md5" ]]; then
  echo "fetch-real-data: $dest already verified (md5 $expected_md5)"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ "$source" == http://* || "$source" == https://* ]]; then
  curl -fsSL --retry 3 -o "$work/download" "$source"
else
  cp "$source" "$work/download"
fi

if unzip -tq "$work/download" > /dev/null 2>&1; then
  unzip -q "$work/download" -d "$work/unzipped"
  mapfile -t csvs < <(find "$work/unzipped" -type f -name '*.csv')
  if ((${#csvs[@]} != 1)); then
    echo "fetch-real-data: $source holds ${#csvs[@]} CSV files, expected exactly one" >&2
    exit 1
  fi
  candidate=${csvs[0]}
else
  candidate=$work/download
fi

actual=$(md5_of "$candidate")
if [[ "$actual" != "$expected_md5" ]]; then
  echo "fetch-real-data: $source: md5 $actual, expected $expected_md5; not the data set the" \
       "project's figures come from, refused (nothing written to $dest)" >&2
  exit 1
fi
mkdir -p "$(dirname "$dest")"
cp "$candidate" "$dest.tmp.$$"
mv "$dest.tmp.$$" "$dest"
echo "fetch-real-data: wrote $dest (md5 $expected_md5)"
