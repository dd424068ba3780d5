import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { defaultClientConditions, defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// One vitest project per workspace; tests import each package's TypeScript sources directly (the
// "@slimswarm/source" condition of each package.json "exports" entry names src/*.ts), so nothing is built
// before testing. Vitest also hands the server conditions to its test processes as --conditions, so worker
// threads a test starts resolve the sources too.
const SOURCE_CONDITION = '@slimswarm/source';
const workspaceDirs = [
  'protocol',
  ...['packages', 'apps'].flatMap((group) =>
    existsSync(group) ? readdirSync(group).map((name) => join(group, name)) : [],
  ),
].filter((dir) => existsSync(join(dir, 'package.json')));

const polyfill = new URL('./packages/node-compat/src/index.ts', import.meta.url).pathname;

// The end-to-end suites start many processes (and a browser) that train for real: on two cores they each
// get the machine to themselves, after the unit suites, instead of starving each other into timeouts.
const GROUP_ORDER: Record<string, number> = { local: 1, web: 2 };

export default defineConfig({
  resolve: { conditions: [SOURCE_CONDITION, ...defaultClientConditions] },
  ssr: { resolve: { conditions: [SOURCE_CONDITION, ...defaultServerConditions] } },
  test: {
    projects: workspaceDirs.map((dir) => ({
      extends: true,
      test: {
        name: dir.split('/').pop(),
        sequence: { groupOrder: GROUP_ORDER[dir.split('/').pop() ?? ''] ?? 0 },
        root: dir,
        include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
        setupFiles: [polyfill],
      },
    })),
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
