#!/usr/bin/env node
// The installed command runs the built JavaScript (npm run build); in the workspace, run the sources
// instead: node --conditions=@slimswarm/source --import tsx apps/worker/src/export-main.ts
await import('../dist/export-main.js');
