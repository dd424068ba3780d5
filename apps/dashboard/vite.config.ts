import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defineConfig } from 'vite';
import { precompress } from '../../tools/precompress.js';

/** In development the job API comes from a running coordinator (`npm start` of apps/coordinator). */
const COORDINATOR = process.env.SLIMSWARM_COORDINATOR ?? 'http://127.0.0.1:8700';

/** Same headers as the coordinator sends, so the dashboard behaves the same in dev. */
const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // Relative URLs: the coordinator serves this page under /dashboard/.
  base: './',
  // .br/.gz twins of every file, which the coordinator serves to browsers that accept them.
  plugins: [precompress()],
  // Our packages are bundled from their TypeScript sources (not their dist/ builds).
  resolve: { conditions: ['@slimswarm/source', ...defaultClientConditions] },
  server: { headers: ISOLATION_HEADERS, proxy: { '/api': COORDINATOR } },
  preview: { headers: ISOLATION_HEADERS },
  build: { target: 'es2022', chunkSizeWarningLimit: 2048 },
});
