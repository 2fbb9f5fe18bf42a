#!/usr/bin/env bash
# Compiles the server, CLI and SDK to JavaScript under .herm-build/current when a source changed since the last
# build; ./herm runs that. Why not the TypeScript sources directly: Node's type stripper (a WebAssembly build of
# swc, with its 3.7 MB loader script) stays loaded for the life of the process, ~15 MiB of the idle server's
# resident memory (measured: 123-128 → 110 MiB). Emitting with tsc takes a few seconds.
# Each build goes to a directory of its own and `current` is switched to it atomically, so a server starting
# while another process rebuilds never sees half a build; concurrent callers build once (flock).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
builds="$root/.herm-build"
stale() {
  [ -f "$builds/current/.stamp" ] || return 0
  [ -n "$(find "$root/packages"/*/src "$root/packages"/*/package.json "$root"/tsconfig*.json -newer "$builds/current/.stamp" \
    \( -name '*.ts' -o -name '*.json' \) -print -quit 2>/dev/null)" ]
}
stale || exit 0
mkdir -p "$builds"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$builds/.lock"
  flock 9
  stale || exit 0
fi
echo "herm: compiling the sources to $builds/current (they changed since the last build)" >&2
next="$(mktemp -d "$builds/build-XXXXXX")"
chmod 755 "$next"
touch "$next/.stamp" # before compiling: a source saved meanwhile is newer, and the next run builds again
(cd "$root" && npx tsc -p tsconfig.build.json --outDir "$next" >&2) || { rm -rf "$next"; exit 1; }
# Each package's manifest with its entry points moved from .ts to .js; package names resolve inside the build.
node --input-type=module - "$root" "$next" <<'JS'
import fs from 'node:fs';
import path from 'node:path';
const [root, next] = process.argv.slice(2);
const toJs = (value) => typeof value === 'string' ? value.replace(/\.ts$/, '.js')
  : Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, toJs(inner)]));
for (const directory of fs.readdirSync(path.join(next))) {
  const source = path.join(root, 'packages', directory);
  if (!fs.existsSync(path.join(source, 'package.json'))) continue;
  const manifest = JSON.parse(fs.readFileSync(path.join(source, 'package.json'), 'utf8'));
  if (manifest.exports) manifest.exports = toJs(manifest.exports);
  delete manifest.bin;
  fs.writeFileSync(path.join(next, directory, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const link = path.join(next, 'node_modules', manifest.name);
  fs.mkdirSync(path.dirname(link), { recursive: true });
  fs.symlinkSync(path.relative(path.dirname(link), path.join(next, directory)), link);
  // Dependencies npm could not hoist stay reachable from the package's own directory.
  if (fs.existsSync(path.join(source, 'node_modules'))) fs.symlinkSync(path.join(source, 'node_modules'), path.join(next, directory, 'node_modules'));
}
JS
ln -sfn "$(basename "$next")" "$builds/current.new"
mv -T "$builds/current.new" "$builds/current"
# Builds before the previous one go; the previous one may still serve a process that started from it.
find "$builds" -mindepth 1 -maxdepth 1 -type d -name 'build-*' ! -newer "$next" ! -path "$next" -printf '%T@ %p\n' |
  sort -rn | tail -n +2 | cut -d' ' -f2- | xargs -r rm -rf
