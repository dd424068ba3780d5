import { fileURLToPath } from 'node:url';
import type { Plugin } from 'vite';
import { defaultClientConditions, defineConfig } from 'vite';
import { precompress } from '../../tools/precompress.js';

/** In development the job API comes from a running coordinator (`npm start` of apps/coordinator). */
const COORDINATOR = process.env.SLIMSWARM_COORDINATOR ?? 'http://127.0.0.1:8700';

/** Threads need cross-origin isolation (SharedArrayBuffer); the coordinator sends the same headers. */
const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/**
 * The onnxruntime-web build each compute-worker entry runs, when it is not the package's main one (the
 * WebGPU/JSEP build). The performer's modules import plain 'onnxruntime-web'; in the wasm worker's
 * bundle that must be the same wasm-only build its entry loads (one runtime, the smaller binary).
 */
const ORT_BUILD_OF_WORKER: Readonly<Record<string, string>> = {
  'compute-worker-wasm.ts': 'onnxruntime-web/wasm',
};

/**
 * Resolves 'onnxruntime-web' to the build ORT_BUILD_OF_WORKER names for the worker being bundled. Vite
 * bundles each worker on its own with fresh plugins (worker.plugins), so the entry is known here.
 */
function ortBuildOfWorker(): Plugin {
  let build: string | undefined;
  return {
    name: 'slimswarm:ort-build-of-worker',
    enforce: 'pre',
    buildStart(options) {
      const inputs = Array.isArray(options.input) ? options.input : Object.values(options.input ?? {});
      const entry = inputs.map((input) => input.split('/').pop() ?? '');
      build = entry.length === 1 ? ORT_BUILD_OF_WORKER[entry[0]!] : undefined;
    },
    resolveId(source, importer, options) {
      if (source !== 'onnxruntime-web' || build === undefined) return null;
      return this.resolve(build, importer, { ...options, skipSelf: true });
    },
  };
}

const OWN_SOURCES = /\/(protocol|packages\/(client|performer|swarm))\/src\//;

/**
 * onnxruntime-web's wasm binary and Emscripten glue are separate files (the
 * `onnxruntime-web-use-extern-wasm` build) so that wasm threads start from the glue rather than from our
 * worker bundle. The compute-worker entries import their URLs (`?url`), so they are emitted as
 * content-hashed assets of our own origin (never a CDN).
 */
const conditions = [
  // Our packages are bundled from their TypeScript sources (not their dist/ builds).
  '@slimswarm/source',
  'onnxruntime-web-use-extern-wasm',
  ...defaultClientConditions,
];

export default defineConfig(({ command }) => ({
  // Workers are bundled (ortBuildOfWorker applies) by `vite build` only, not by the dev server.
  define: { __COMPUTE_WORKERS_BUNDLED__: JSON.stringify(command === 'build') },
  root: fileURLToPath(new URL('.', import.meta.url)),
  // Relative URLs: the coordinator serves this page at `/`, tests may serve it anywhere.
  base: './',
  resolve: { conditions },
  worker: { format: 'es', plugins: () => [ortBuildOfWorker()] },
  // .br/.gz twins of every file, which the coordinator serves to browsers that accept them.
  plugins: [precompress()],
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
}));
