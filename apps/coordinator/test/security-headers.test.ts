import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttp, type HttpService } from '../src/http.js';
import { CONTENT_SECURITY_POLICY } from '../src/security-headers.js';

describe("the coordinator's security headers", () => {
  let dir: string;
  let http: HttpService;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slimswarm-headers-'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>t</title>');
    http = await startHttp({
      host: '127.0.0.1',
      port: 0,
      mounts: { '/': dir },
      routes: { '/api/job': () => ({ body: '{}', contentType: 'application/json' }) },
    });
  });
  afterAll(async () => {
    await http.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('go with pages, API answers and errors alike', async () => {
    for (const path of ['/', '/api/job', '/missing']) {
      const res = await fetch(new URL(path, http.url));
      expect(res.headers.get('content-security-policy'), path).toBe(CONTENT_SECURITY_POLICY);
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
    }
  });

  it('forbid framing, eval and foreign scripts, and allow the one inline style by hash', () => {
    const directives = new Map(
      CONTENT_SECURITY_POLICY.split('; ').map((d) => [d.split(' ')[0]!, d.split(' ').slice(1)]),
    );
    expect(directives.get('frame-ancestors')).toEqual(["'none'"]);
    expect(directives.get('script-src')).toEqual(["'self'", "'wasm-unsafe-eval'"]);
    expect(directives.get('default-src')).toEqual(["'self'"]);
    const style = directives.get('style-src')!;
    expect(style).not.toContain("'unsafe-inline'");
    // sha256 of cytoscape's stylesheet text, base64 (checked in Chromium by apps/web/test/csp-privacy.test.ts).
    expect(style).toEqual(["'self'", expect.stringMatching(/^'sha256-[A-Za-z0-9+/]{43}='$/)]);
  });
});
