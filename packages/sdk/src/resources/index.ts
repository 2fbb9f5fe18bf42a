export * from './deployments/index.ts';
export * from './secrets.ts';
export * from './threads.ts';
