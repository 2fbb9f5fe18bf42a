export * from './deployments.ts';
export * from './events.ts';
export * from './messages.ts';
export * from './runs.ts';
