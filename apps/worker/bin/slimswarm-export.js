#!/usr/bin/env node
// Runs the TypeScript sources directly (the workspace ships no build step for apps).
import { register } from 'tsx/esm/api';
register();
await import('../src/export-main.ts');
