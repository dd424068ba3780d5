#!/usr/bin/env node
// The installed command runs the built JavaScript (npm run build); in the workspace, run the sources
// instead: node --conditions=@slimswarm/source --import tsx apps/worker/src/main.ts
await import('../dist/main.js');
