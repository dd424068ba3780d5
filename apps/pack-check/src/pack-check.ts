/**
 * `npm run pack:check`: the published packages as a user gets them. Builds them, packs each into a
 * tarball, installs the tarballs into an empty folder outside the repository (third-party dependencies
 * from the registry), and from there starts the coordinator on loopback, trains one worker round against
 * it, computes a SLiM gradient with the performer from a plain .mjs script, and runs `--help` of every
 * command. Nothing of the workspace is reachable from the install, so a missing file in a package's
 * "files", an export without its build, or a run-time need for tsx fails here.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative, sep } from 'node:path';
import { writeFileAtomic } from '@slimswarm/node-compat/fs';
import {
  type CheckJob,
  fetchPages,
  helpText,
  performerGradient,
  runWorkerRound,
  startInstalledCoordinator,
} from './installed.js';
import { publishedWorkspaces, workspaces } from './manifests.js';
import { directoryBytes, installTarballs, installedPackages, packWorkspaces } from './npm.js';
import { runOk } from './processes.js';

export interface PackCheckOptions {
  /** The repository root. */
  root: string;
  /** Skip `turbo run build` (the packages are built already). */
  skipBuild: boolean;
  /** Leave the temporary folder (tarballs and install) in place, to look at. */
  keep: boolean;
  /** How long the worker may take for its round. */
  roundTimeoutMs: number;
  /** The job of the worker's round (installed.ts). */
  job: CheckJob;
  say: (line: string) => void;
}

/** Text the worker trains on: two of the repository's own documents, copied into the install folder. */
const DATA_FILES = ['README.md', 'docs/architecture.md'];

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
const kb = (bytes: number): string => `${(bytes / 1e3).toFixed(0)} kB`;

const seconds = (since: number): string => `${((performance.now() - since) / 1000).toFixed(1)} s`;

/** The installed coordinator on loopback, its two pages, and one round of the installed worker against it. */
async function roundFromInstall(
  installDir: string,
  dataDir: string,
  roundTimeoutMs: number,
  job: CheckJob,
  say: (line: string) => void,
): Promise<void> {
  const t = performance.now();
  const coordinator = await startInstalledCoordinator(installDir, job);
  try {
    const { http, jobId, baseSha256 } = coordinator.listening;
    say(
      `slimswarm-coordinator: ${http} (${job} job ${jobId.slice(0, 16)}…, base ${baseSha256.slice(0, 12)}…)`,
    );
    for (const page of await fetchPages(http)) say(`  GET ${page.path}: ${page.status}, ${kb(page.bytes)}`);
    const round = await runWorkerRound(installDir, http, dataDir, roundTimeoutMs);
    say(
      `slimswarm-worker: round ${round.round} done (from round ${round.baseRound}): mean loss ` +
        `${round.meanLoss.toFixed(4)} over ${round.tokens} tokens, ${round.tokensPerSec.toFixed(0)} tok/s, ` +
        `${round.accepted} delta(s) merged, model ${round.modelSha256.slice(0, 12)}…; in ${seconds(t)}`,
    );
  } finally {
    const code = await coordinator.child.stop(10_000);
    if (code !== 0) say(`slimswarm-coordinator exited with ${code} on SIGINT`);
  }
}

export async function packCheck(opts: PackCheckOptions): Promise<void> {
  const { root, say } = opts;
  const started = performance.now();

  const published = publishedWorkspaces(await workspaces(root));
  const names = published.map((w) => w.manifest.name);
  // Every command of every package, with the program it must run: bin/<program>.js (an alias such as the
  // worker's `worker`, which `npx @slimswarm/worker` picks, runs the same program as its full name).
  const commands = published.flatMap((w) =>
    Object.entries(w.manifest.bin ?? {}).map(([command, target]) => ({
      command,
      program: basename(target, '.js'),
    })),
  );
  const npxPackages = published.filter((w) => w.manifest.bin !== undefined).map((w) => w.manifest.name);

  if (!opts.skipBuild) {
    const t = performance.now();
    const turbo = join(root, 'node_modules', '.bin', 'turbo');
    const filters = names.map((name) => `--filter=${name}`);
    await runOk(turbo, ['run', 'build', '--output-logs=errors-only', ...filters], {
      cwd: root,
      timeoutMs: 300_000,
    });
    say(`built ${names.length} packages and what they bundle (turbo) in ${seconds(t)}`);
  }

  const temp = await mkdtemp(join(tmpdir(), 'slimswarm-pack-check-'));
  if (!relative(root, temp).startsWith(`..${sep}`)) throw new Error(`${temp} is inside ${root}`);
  try {
    const tarballDir = join(temp, 'tarballs');
    const installDir = join(temp, 'install');
    await mkdir(tarballDir);
    await mkdir(installDir);

    let t = performance.now();
    const packed = await packWorkspaces(root, names, tarballDir);
    for (const p of packed) {
      say(
        `packed ${p.name}@${p.version}: ${kb(p.size)} (${kb(p.unpackedSize)} unpacked, ${p.entryCount} files)`,
      );
    }
    say(`packed ${packed.length} tarballs in ${seconds(t)}`);

    t = performance.now();
    await installTarballs(
      installDir,
      packed.map((p) => join(tarballDir, p.filename)),
    );
    const installed = await installedPackages(installDir);
    const ours = installed.filter((p) => p.startsWith('@slimswarm/'));
    const size = await directoryBytes(join(installDir, 'node_modules'));
    say(
      `installed into ${installDir} in ${seconds(t)}: ${installed.length} packages, node_modules ${mb(size)}`,
    );
    say(`  ours: ${ours.join(' ')}`);
    say(`  third-party: ${installed.filter((p) => !p.startsWith('@slimswarm/')).join(' ')}`);

    // The worker's round (the long part: engine start, four 2048-token steps) runs while the commands'
    // --help and the performer's gradient are checked; every line stands on its own, so they may interleave.
    const dataDir = join(installDir, 'data');
    for (const file of DATA_FILES) {
      await writeFileAtomic(join(dataDir, file.replaceAll('/', '-')), await readFile(join(root, file)));
    }
    await Promise.all([
      roundFromInstall(installDir, dataDir, opts.roundTimeoutMs, opts.job, say),
      (async () => {
        for (const { command, program } of commands) {
          const usage = await helpText(installDir, command, program);
          say(`${command} --help: exit 0, ${usage.trim().split('\n').length} lines of ${program}'s usage`);
        }
        // What the README tells volunteers and job authors to type (here from the install, not the registry).
        for (const name of npxPackages) {
          const usage = await helpText(installDir, ['npx', '--no-install', name], 'slimswarm-');
          say(`npx ${name} --help: exit 0, ${usage.split('\n')[0]}`);
        }
        const t = performance.now();
        const gradient = await performerGradient(installDir);
        say(
          `performer (plain .mjs): SLiM gradient of ${gradient.params} parameters over ${gradient.tokens} ` +
            `tokens, chunk ${gradient.chunk}: loss ${gradient.loss.toFixed(6)} (float64 reference ` +
            `${gradient.referenceLoss.toFixed(6)}), largest relative gradient error ` +
            `${gradient.maxGradRelativeError.toExponential(2)} (${gradient.worstParam}), in ${seconds(t)}`,
        );
      })(),
    ]);
    say(`pack:check passed in ${seconds(started)}`);
  } finally {
    if (opts.keep) say(`kept ${temp}`);
    else await rm(temp, { recursive: true, force: true });
  }
}
