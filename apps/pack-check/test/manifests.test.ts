/**
 * The published packages' manifests, checked without packing anything (cheap enough for every `npm test`;
 * `npm run pack:check` installs and runs them). Every exports entry resolves to its sources under the
 * source condition and to dist/ otherwise, and a published package never needs a private one.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { UnpublishedDependencyError, publishedWorkspaces, workspaces, type Workspace } from '../src/index.js';
import { cleanEnv } from '../src/processes.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const BuiltEntry = z
  .object({
    '@slimswarm/source': z.string().regex(/^\.\/src\/.+\.ts$/),
    types: z.string().regex(/^\.\/dist\/.+\.d\.ts$/),
    default: z.string().regex(/^\.\/dist\/.+\.js$/),
  })
  .strict();
/** A development-only entry (test fixtures, benchmarks): sources only, so an install does not offer it. */
const SourceOnlyEntry = z.object({ '@slimswarm/source': z.string() }).strict();

const PublishedManifest = z
  .object({
    license: z.literal('Apache-2.0'),
    engines: z.object({ node: z.literal('>=20.19') }).strict(),
    files: z.array(z.string()).refine((files) => files.includes('dist'), 'ships dist'),
    exports: z.record(z.string(), z.union([BuiltEntry, SourceOnlyEntry])),
    scripts: z.object({ build: z.string().startsWith('tsc -p tsconfig.build.json') }).loose(),
    dependencies: z.record(z.string(), z.string()).optional(),
  })
  .loose();

describe('the published packages', () => {
  it('are the ones the coordinator and the worker need at run time', async () => {
    const published = publishedWorkspaces(await workspaces(ROOT));
    expect(published.map((w) => w.manifest.name).sort()).toEqual(
      [
        'client',
        'coordinator',
        'default-job',
        'hf-import',
        'node-compat',
        'performer',
        'privacy',
        'protocol',
        'swarm',
        'worker',
      ].map((name) => `@slimswarm/${name}`),
    );
  });

  it('build to dist/ and name their sources under the source condition, pinning each other exactly', async () => {
    const published = publishedWorkspaces(await workspaces(ROOT));
    for (const { dir, manifest } of published) {
      const parsed = PublishedManifest.parse(manifest);
      for (const entry of Object.values(parsed.exports)) {
        expect(
          existsSync(join(ROOT, dir, entry['@slimswarm/source'])),
          `${dir}: ${entry['@slimswarm/source']}`,
        ).toBe(true);
      }
      for (const [name, range] of Object.entries(parsed.dependencies ?? {})) {
        if (name.startsWith('@slimswarm/'))
          expect(range, `${manifest.name} → ${name}`).toBe(manifest.version);
      }
      expect(parsed.dependencies?.['tsx'], `${manifest.name} needs tsx`).toBeUndefined();
      for (const target of Object.values(manifest.bin ?? {}))
        expect(parsed.files).toContain(target.split('/')[1]);
    }
  });

  it('a published package depending on a private one is refused', () => {
    const ws = (name: string, isPrivate: boolean, dependencies: Record<string, string> = {}): Workspace => ({
      dir: name,
      manifest: { name, version: '0.1.0', private: isPrivate, dependencies },
    });
    expect(() => publishedWorkspaces([ws('a', false, { b: '0.1.0' }), ws('b', true)])).toThrow(
      UnpublishedDependencyError,
    );
    expect(publishedWorkspaces([ws('a', false, { b: '0.1.0' }), ws('b', false)])).toHaveLength(2);
  });
});

describe('the environment of the installed commands', () => {
  it("drops npm run's settings and the source condition, keeps the rest", () => {
    const env = cleanEnv({
      PATH: '/bin',
      npm_config_local_prefix: '/repo',
      NODE_OPTIONS: '--max-old-space-size=8192 --conditions=@slimswarm/source',
    });
    expect(env).toEqual({ PATH: '/bin', NODE_OPTIONS: '--max-old-space-size=8192' });
    expect(cleanEnv({ NODE_OPTIONS: '--conditions=@slimswarm/source' })).toEqual({});
  });
});
