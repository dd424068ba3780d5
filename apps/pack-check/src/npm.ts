/** Packing the published workspaces into tarballs, and installing those into a folder of their own. */
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@slimswarm/node-compat/fs';
import { z } from 'zod';
import { runOk } from './processes.js';

/** What `npm pack --json` reports per package (the fields printed here). */
export const PackedTarball = z
  .object({
    name: z.string(),
    version: z.string(),
    filename: z.string(),
    size: z.number().int().nonnegative(),
    unpackedSize: z.number().int().nonnegative(),
    entryCount: z.number().int().nonnegative(),
  })
  .loose();
export type PackedTarball = z.infer<typeof PackedTarball>;

/** `npm pack` of the named workspaces of `root` into `destination` (run after building them). */
export async function packWorkspaces(
  root: string,
  names: readonly string[],
  destination: string,
): Promise<PackedTarball[]> {
  const { stdout } = await runOk(
    'npm',
    ['pack', '--json', '--pack-destination', destination, ...names.flatMap((name) => ['-w', name])],
    { cwd: root, timeoutMs: 120_000 },
  );
  return z.array(PackedTarball).parse(JSON.parse(stdout));
}

/**
 * Installs the tarballs into `dir` (an empty folder outside the repository) as a user installs packages:
 * ours from the tarballs, everything else from the registry.
 */
export async function installTarballs(dir: string, tarballs: readonly string[]): Promise<void> {
  const manifest = { name: 'slimswarm-pack-check-install', version: '0.0.0', private: true, type: 'module' };
  await writeFileAtomic(join(dir, 'package.json'), JSON.stringify(manifest, null, 2) + '\n');
  await runOk('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs], {
    cwd: dir,
    timeoutMs: 180_000,
  });
}

const InstalledManifest = z.object({ name: z.string(), version: z.string() }).loose();

/** name@version of every package under `dir`/node_modules (scoped ones included), sorted. */
export async function installedPackages(dir: string): Promise<string[]> {
  const modules = join(dir, 'node_modules');
  const found: string[] = [];
  const readOne = async (path: string) => {
    const manifest = InstalledManifest.parse(JSON.parse(await readFile(join(path, 'package.json'), 'utf8')));
    found.push(`${manifest.name}@${manifest.version}`);
  };
  for (const entry of await readdir(modules, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    if (!entry.name.startsWith('@')) {
      await readOne(join(modules, entry.name));
      continue;
    }
    for (const scoped of await readdir(join(modules, entry.name), { withFileTypes: true })) {
      if (scoped.isDirectory()) await readOne(join(modules, entry.name, scoped.name));
    }
  }
  return found.sort();
}

/** Bytes of every file under `path` (links not followed), as `du --apparent-size` counts them. */
export async function directoryBytes(path: string): Promise<number> {
  const info = await lstat(path);
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const entry of await readdir(path)) total += await directoryBytes(join(path, entry));
  return total;
}
