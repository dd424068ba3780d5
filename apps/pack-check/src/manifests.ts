/**
 * The workspaces' package.json files, as the pack check reads them: which packages are published (not
 * `private`), and whether each one's run-time dependencies of ours are published too (an install of the
 * tarballs could not resolve a private one).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

const Dependencies = z.record(z.string(), z.string());

/** The fields of a workspace's package.json the check relies on; everything else passes through. */
export const PackageManifest = z
  .object({
    name: z.string().min(1),
    version: z.string().min(1),
    private: z.boolean().optional(),
    bin: z.record(z.string(), z.string()).optional(),
    dependencies: Dependencies.optional(),
  })
  .loose();
export type PackageManifest = z.infer<typeof PackageManifest>;

const RootManifest = z.object({ workspaces: z.array(z.string().min(1)).min(1) }).loose();

export interface Workspace {
  /** Folder relative to the repository root. */
  readonly dir: string;
  readonly manifest: PackageManifest;
}

/** A published package depends on one of ours that is private (never on the registry). */
export class UnpublishedDependencyError extends Error {
  static override name = 'UnpublishedDependencyError';
  override name = 'UnpublishedDependencyError';
}

async function readManifest<S extends z.ZodType>(schema: S, path: string): Promise<z.output<S>> {
  return schema.parse(JSON.parse(await readFile(path, 'utf8')));
}

/** Every workspace the root package.json names (`dir` or `dir/*` entries), sorted by folder. */
export async function workspaces(root: string): Promise<Workspace[]> {
  const { workspaces: patterns } = await readManifest(RootManifest, join(root, 'package.json'));
  const dirs: string[] = [];
  for (const pattern of patterns) {
    if (!pattern.endsWith('/*')) {
      dirs.push(pattern);
      continue;
    }
    const parent = pattern.slice(0, -2);
    for (const entry of await readdir(join(root, parent), { withFileTypes: true })) {
      if (entry.isDirectory()) dirs.push(`${parent}/${entry.name}`);
    }
  }
  const found: Workspace[] = [];
  for (const dir of dirs.sort()) {
    const manifest = await readManifest(PackageManifest, join(root, dir, 'package.json')).catch(
      (e: unknown) => {
        // A folder without a package.json is no workspace (npm skips it too); a broken one is an error.
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      },
    );
    if (manifest) found.push({ dir, manifest });
  }
  return found;
}

/**
 * The published workspaces. Throws UnpublishedDependencyError when one of them depends at run time on a
 * private workspace.
 */
export function publishedWorkspaces(all: readonly Workspace[]): Workspace[] {
  const published = all.filter((w) => w.manifest.private !== true);
  const privateNames = new Set(all.filter((w) => w.manifest.private === true).map((w) => w.manifest.name));
  for (const { manifest } of published) {
    const missing = Object.keys(manifest.dependencies ?? {}).filter((name) => privateNames.has(name));
    if (missing.length > 0) {
      throw new UnpublishedDependencyError(
        `${manifest.name} depends on ${missing.join(', ')}, which ${missing.length > 1 ? 'are' : 'is'} private`,
      );
    }
  }
  return published;
}
