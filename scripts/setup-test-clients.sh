#!/usr/bin/env bash
# Installs the third-party clients the end-to-end tests drive. Safe to run again.
#  - node packages (@stomp/stompjs, ws, playwright-core) from the committed lockfiles;
#  - stomp.py and websocket-client for python3;
#  - Debian's chromium (only if /usr/bin/chromium is missing). Nothing downloads a browser
#    of its own: playwright-core is pointed at /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "setup-test-clients: '$1' is required but not installed" >&2; exit 1; }
}
need node
need npm
need python3

# npm ci only when the installed tree is missing or older than the lockfile.
for dir in tests/clients/js tests/clients/browser examples/chat/web; do
  marker="$dir/node_modules/.package-lock.json"
  if [[ -f "$marker" && "$marker" -nt "$dir/package-lock.json" ]]; then
    echo "setup-test-clients: $dir: node_modules up to date"
  else
    echo "setup-test-clients: $dir: npm ci"
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  fi
done

if python3 -c 'import stomp, websocket' 2>/dev/null; then
  echo "setup-test-clients: stomp.py and websocket-client already installed"
else
  echo "setup-test-clients: pip install -r tests/clients/py/requirements.txt"
  python3 -m pip install --quiet -r tests/clients/py/requirements.txt
fi

if [[ -x /usr/bin/chromium ]]; then
  echo "setup-test-clients: /usr/bin/chromium present"
else
  echo "setup-test-clients: installing Debian chromium"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium
fi
echo "setup-test-clients: done"
