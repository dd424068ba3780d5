import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// One vitest project per workspace; tests import each package's TypeScript sources directly
// (package.json "exports" point at src/index.ts), so nothing is built before testing.
const workspaceDirs = [
  'protocol',
  ...['packages', 'apps'].flatMap((group) =>
    existsSync(group) ? readdirSync(group).map((name) => join(group, name)) : [],
  ),
].filter((dir) => existsSync(join(dir, 'package.json')));

const polyfill = new URL('./packages/node-compat/src/index.ts', import.meta.url).pathname;

export default defineConfig({
  test: {
    projects: workspaceDirs.map((dir) => ({
      extends: true,
      test: {
        name: dir.split('/').pop(),
        root: dir,
        include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
        setupFiles: [polyfill],
      },
    })),
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
