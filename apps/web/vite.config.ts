import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Connect, Plugin } from 'vite';
import { defaultClientConditions, defineConfig } from 'vite';

/**
 * onnxruntime-web's wasm binary and its Emscripten glue are loaded at run time from
 * `ort.env.wasm.wasmPaths`. They are served from our own origin (never a CDN): copied into `dist/ort/`
 * on build and served from node_modules under `/ort/` by the dev and preview servers. The glue is a
 * separate file (the `onnxruntime-web-use-extern-wasm` build) so that wasm threads start from it rather
 * than from our worker bundle.
 */
const ORT_DIST = fileURLToPath(new URL('../../node_modules/onnxruntime-web/dist/', import.meta.url));
const ORT_FILES = ['ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.wasm'];
const ORT_URL_DIR = 'ort/';

/** In development the job API comes from a running coordinator (`npm start` of apps/coordinator). */
const COORDINATOR = process.env.SLIMSWARM_COORDINATOR ?? 'http://127.0.0.1:8700';

/** Threads need cross-origin isolation (SharedArrayBuffer); the coordinator sends the same headers. */
const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

function serveOrtFiles(): Connect.NextHandleFunction {
  return (req, res, next) => {
    const name = req.url?.split('?')[0]?.split('/').pop();
    if (!name || !req.url?.includes(`/${ORT_URL_DIR}`) || !ORT_FILES.includes(name)) return next();
    res.setHeader('Content-Type', name.endsWith('.wasm') ? 'application/wasm' : 'text/javascript');
    res.end(readFileSync(ORT_DIST + name));
  };
}

function onnxruntimeFiles(): Plugin {
  return {
    name: 'slimswarm:onnxruntime-files',
    configureServer: (server) => void server.middlewares.use(serveOrtFiles()),
    configurePreviewServer: (server) => void server.middlewares.use(serveOrtFiles()),
    generateBundle() {
      for (const name of ORT_FILES) {
        this.emitFile({ type: 'asset', fileName: ORT_URL_DIR + name, source: readFileSync(ORT_DIST + name) });
      }
    },
  };
}

const OWN_SOURCES = /\/(protocol|packages\/(client|performer|swarm))\/src\//;

// '@slimswarm/source': our packages are bundled from their TypeScript sources (not their dist/ builds).
const conditions = ['@slimswarm/source', 'onnxruntime-web-use-extern-wasm', ...defaultClientConditions];

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // Relative URLs: the coordinator serves this page at `/`, tests may serve it anywhere.
  base: './',
  resolve: { conditions },
  worker: { format: 'es' },
  plugins: [onnxruntimeFiles()],
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  server: { headers: ISOLATION_HEADERS, proxy: { '/api': COORDINATOR } },
  preview: { headers: ISOLATION_HEADERS },
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 2048,
    // Our packages' modules only define things, so what a thread does not use is left out of its bundle
    // (the page would otherwise carry onnxruntime and libp2p, imported by the packages it takes schemas from).
    // protocol's jitless module is there for its side effect alone (z.config), so it is kept.
    rolldownOptions: {
      treeshake: {
        moduleSideEffects: (id: string) => !OWN_SOURCES.test(id) || id.endsWith('/protocol/src/jitless.ts'),
      },
    },
  },
});
