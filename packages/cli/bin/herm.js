#!/usr/bin/env node
// Node >= 22.18 runs the TypeScript sources directly (type stripping).
const { main } = await import('../src/main.ts');
await main(process.argv.slice(2));
