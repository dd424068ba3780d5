export * from './protocol.js';
export * from './client.js';
export * from './server.js';
export * from './verify.js';
