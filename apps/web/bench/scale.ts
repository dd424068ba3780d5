/**
 * The bring-your-own-model scale check (issue #14 item 6), end to end as a volunteer meets it: a
 * coordinator publishes a LoRA job from a model folder with SmolLM2-135M's shapes (`--model`), and a
 * real client joins, fetches the 538 MB base, trains one round at L = 4096 and gossips its delta. Peak
 * memory is read from /proc while it runs: the Node worker's process, or Chromium's renderer that runs
 * the tab (its compute Web Worker included).
 *
 *   npm run bench:scale [-- --json] [-- --quick] [-- --client node|tab|both] [-- --length L] [-- --lora r]
 *
 * Prints one JSON line per client: peak RSS over the whole run (start-up, base fetch and engine creation
 * included) and over the training step alone, s / step, tokens/s, wire bytes of the delta.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { CoordinatorEvent } from '@slimswarm/coordinator';
import { REPO_ROOT, spawnJsonChild } from '@slimswarm/local';
import { scaleModel } from './scale-model.js';
import { runNodeClient } from './scale-node.js';
import { runTabClient } from './scale-tab.js';
import type { ClientRun, ScaleJob } from './scale-run.js';

const Flags = z
  .object({
    json: z.boolean(),
    quick: z.boolean(),
    client: z.enum(['node', 'tab', 'both']),
    length: z.coerce.number().int().positive(),
    lora: z.coerce.number().int().positive(),
    chunk: z.coerce.number().int().positive(),
    features: z.coerce.number().int().positive(),
    cache: z.string().min(1),
  })
  .strict();

function parseFlags(argv: string[]): z.infer<typeof Flags> {
  const program = new Command('bench:scale')
    .option('--json', 'JSON lines only', false)
    .option('--quick', 'a small Llama instead of SmolLM2-135M shapes, L = 512', false)
    .option('--client <which>', 'node, tab or both', 'both')
    .option('--length <L>', 'training sequence length (default 4096; --quick 512)')
    .option('--lora <rank>', 'LoRA rank on q, k, v, o', '8')
    .option('--chunk <C>', 'SLiM chunk size', '256')
    .option('--features <M>', 'FAVOR+ features per head', '64')
    .option('--cache <dir>', 'where the model folder is written once', join(REPO_ROOT, 'artifacts', 'scale'))
    .parse(argv, { from: 'user' });
  const raw = program.opts();
  return Flags.parse({ ...raw, length: raw['length'] ?? (raw['quick'] ? 512 : 4096) });
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const say = (line: string) => {
    if (!flags.json) console.error(line);
  };
  await mkdir(flags.cache, { recursive: true });
  const model = await scaleModel(flags.cache, flags.quick);
  say(`model folder ${model.dir} (${(model.weightBytes / 1e6).toFixed(0)} MB of weights)`);
  const scratch = await mkdtemp(join(tmpdir(), 'slimswarm-scale-'));
  const coordinator = spawnJsonChild(CoordinatorEvent, {
    label: 'coordinator',
    entry: 'apps/coordinator/src/main.ts',
    args: [
      ...['--port', '0', '--json', '--model', model.dir, '--lora', String(flags.lora)],
      ...['--seq-len', String(flags.length), '--chunk-size', String(flags.chunk)],
      ...['--features', String(flags.features), '--local-steps', '1', '--difficulty', '8'],
      ...['--job-key', join(scratch, 'job.key')],
    ],
    log: (label, line) => say(`[${label}] ${line}`),
  });
  try {
    const listening = await coordinator.waitFor(
      (e): e is Extract<CoordinatorEvent, { event: 'listening' }> => e.event === 'listening',
      10 * 60_000,
    );
    const job: ScaleJob = {
      coordinator: listening.http,
      model: model.name,
      length: flags.length,
      lora: flags.lora,
      scratch,
      say,
    };
    const clients = flags.client === 'both' ? (['node', 'tab'] as const) : [flags.client];
    for (const client of clients) {
      const run: ClientRun = client === 'node' ? await runNodeClient(job) : await runTabClient(job);
      console.log(JSON.stringify({ bench: 'scale', client, model: model.name, ...run }));
    }
  } finally {
    await coordinator.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}

await main();
