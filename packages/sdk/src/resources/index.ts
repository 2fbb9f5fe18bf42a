export * from './deployments/index.ts';
export * from './files.ts';
export * from './secrets.ts';
export * from './snapshots.ts';
export * from './threads.ts';
