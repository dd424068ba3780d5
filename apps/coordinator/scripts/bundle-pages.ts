/**
 * The second half of the coordinator's build (after tsc): copies the volunteer page's and the dashboard's
 * Vite builds into dist/, where the built coordinator looks for them (src/bundled-pages.ts), so the
 * published package serves both pages without the workspace. turbo.json builds the two apps first.
 */
import { cp, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLED_PAGES } from '../src/bundled-pages.js';

const APPS = fileURLToPath(new URL('../../', import.meta.url));
const DIST = fileURLToPath(new URL('../dist/', import.meta.url));

for (const [app, folder] of Object.entries(BUNDLED_PAGES)) {
  const from = join(APPS, app, 'dist');
  const index = join(from, 'index.html');
  if (!(await stat(index).catch(() => null))?.isFile()) {
    throw new Error(`${index} is missing: build apps/${app} first (npm run build does)`);
  }
  // Copied beside the target and renamed into place, so a build cut short never leaves half a page there.
  const target = join(DIST, folder);
  const partial = `${target}.partial`;
  await rm(partial, { recursive: true, force: true });
  await cp(from, partial, { recursive: true });
  await rm(target, { recursive: true, force: true });
  await rename(partial, target);
}
