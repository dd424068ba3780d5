/**
 * Where the coordinator finds the two pages it serves by default, the volunteer page and the dashboard.
 * The published package carries copies of both Vite builds in its own dist/ (scripts/bundle-pages.ts puts
 * them there after tsc), so an installed coordinator needs no workspace around it; run from the sources,
 * they are the apps' own build outputs (`npm start` builds them first, in its prestart).
 */
import { fileURLToPath } from 'node:url';

/** The folders, under this package's dist/, that hold the copies. */
export const BUNDLED_PAGES = { web: 'web', dashboard: 'dashboard' } as const;

// This module is dist/bundled-pages.js once built, src/bundled-pages.ts when run from the sources.
const BUILT = import.meta.url.endsWith('.js');
const at = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

export const DEFAULT_WEB_DIR = BUILT ? at(`./${BUNDLED_PAGES.web}`) : at('../../web/dist');
export const DEFAULT_DASHBOARD_DIR = BUILT ? at(`./${BUNDLED_PAGES.dashboard}`) : at('../../dashboard/dist');
