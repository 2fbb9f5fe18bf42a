// Builds the published package: dist/esm (ES modules + .d.ts) and dist/cjs (CommonJS + .d.ts under a
// {"type":"commonjs"} package.json, so Node and TypeScript treat both as CommonJS). Plain JavaScript so it
// runs on any Node the packer has.
//
// The monorepo runs the SDK from its TypeScript sources (package.json `exports` → ./src/index.ts, through the
// workspace link node_modules/herm), so developing and testing the repo needs no build. The published
// manifest points at dist instead: `npm pack` / `npm publish` run `--prepack`, which builds and then applies
// the package.json `publishConfig` fields (exports, main, module, types) to package.json, keeping the
// original in package.json.dev; `--postpack` puts it back (and so does any later run of this script, should
// a pack have died in between).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const tsc = path.join(path.dirname(createRequire(path.join(root, 'package.json')).resolve('typescript/package.json')), 'bin', 'tsc');

const manifestPath = path.join(root, 'package.json');
const savedPath = path.join(root, 'package.json.dev');
const mode = process.argv[2] ?? '--build';

if (fs.existsSync(savedPath)) fs.renameSync(savedPath, manifestPath); // restores after --postpack or a dead pack
if (mode === '--postpack') process.exit(0);

fs.rmSync(dist, { recursive: true, force: true });
for (const config of ['tsconfig.build.json', 'tsconfig.build.cjs.json']) {
  execFileSync(process.execPath, [tsc, '-p', path.join(root, config)], { stdio: 'inherit', cwd: root });
}
fs.writeFileSync(path.join(dist, 'cjs', 'package.json'), '{ "type": "commonjs" }\n');
fs.writeFileSync(path.join(dist, 'esm', 'package.json'), '{ "type": "module" }\n');

// Declarations keep the sources' `./x.ts` specifiers; consumers resolve `./x.js` to `./x.d.ts` without
// any TypeScript flag.
for (const file of walk(dist)) {
  if (!file.endsWith('.d.ts')) continue;
  const text = fs.readFileSync(file, 'utf8');
  const rewritten = text.replace(/(from\s+|import\s*\(\s*)(['"])(\.{1,2}\/[^'"]*?)\.ts\2/g, '$1$2$3.js$2');
  if (rewritten !== text) fs.writeFileSync(file, rewritten);
}

// require('herm') gives the client class itself (like require('openai')), with every named export on it too.
const cjsIndex = path.join(dist, 'cjs', 'index.js');
fs.appendFileSync(
  cjsIndex,
  '\n// require("herm") is the client class; its named exports stay reachable on it.\n' +
    'module.exports = Object.assign(exports.default, exports, { default: exports.default });\n',
);

if (mode === '--prepack') {
  const text = fs.readFileSync(manifestPath, 'utf8');
  const { publishConfig, scripts: _scripts, ...manifest } = JSON.parse(text);
  fs.writeFileSync(savedPath, text);
  fs.writeFileSync(manifestPath, `${JSON.stringify({ ...manifest, ...publishConfig }, null, 2)}\n`);
}

function* walk(directory) {
  for (const entry of fs.readdirSync(directory, { withFileTypes: true })) {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) yield* walk(full);
    else yield full;
  }
}
