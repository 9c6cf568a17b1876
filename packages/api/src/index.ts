export * from './types.js';
export * from './topics.js';
export * from './twin-payloads.js';
export * from './values.js';
export * from './resolve.js';
export * from './mapper-contract.js';
export * from './cloud-link.js';
