/**
 * What every HTTP response of the coordinator tells the browser to refuse (docs/privacy.md): scripts,
 * styles, workers and connections from anywhere but the coordinator, being framed by another page, and
 * guessing content types. The pages need no 'unsafe-eval' (zod runs jitless in them) and no inline script.
 */
import { createHash } from 'node:crypto';

/**
 * The one inline style the pages need: cytoscape (the dashboard's topology view) prepends this stylesheet
 * to the document head. Allowed by its hash, so no other inline style is.
 */
export const CYTOSCAPE_STYLESHEET = '.__________cytoscape_container { position: relative; }';

const styleHash = (css: string) => `'sha256-${createHash('sha256').update(css).digest('base64')}'`;

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  // onnxruntime-web compiles its wasm binary: WebAssembly only, not eval.
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self' blob:",
  // The swarm's WebSockets go to the coordinator and to peers' listed addresses.
  "connect-src 'self' ws: wss:",
  `style-src 'self' ${styleHash(CYTOSCAPE_STYLESHEET)}`,
  // The pages' empty favicon is a data: URL.
  "img-src 'self' data:",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
};
