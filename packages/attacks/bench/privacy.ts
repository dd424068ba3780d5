/**
 * `npm run bench:privacy`: what one published delta reveals about the volunteer's text (issue #16).
 *
 * Token recovery: each volunteer trains one round (the job's H local steps) from the shared model on its
 * own text; the attacker — any other peer — sees the delta as the wire carries it (the job's codec,
 * decoded as every receiver decodes it) and names the distinct tokens of the round from the delta's
 * token-embedding rows, with the rule it learned from a shadow round on text of its own (English from
 * the pretraining corpus' held-out part, which the base never saw). One JSON line per (volunteer, codec):
 *
 *   {"bench":"privacy","attack":"token-recovery","model","tokenizer","codec","topkFraction","volunteer",
 *    "present","predicted","recall","precision","auc","payloadBytes"}
 *
 * Full run: the default job's model from its base on the SLiM engine, its codec (top-k int8 at 5 %) and
 * an uncompressed delta beside it, three volunteers whose texts are disjoint files of this repository.
 * `--quick`: the small job's model from random weights, sequences of 128.
 */
import { readFile } from 'node:fs/promises';
import '@slimswarm/node-compat';
import { parseCommandLineOrExit } from '@slimswarm/node-compat/cli';
import { SMALL_MODEL, defaultCorpusFiles, readPretrainCorpus } from '@slimswarm/default-job';
import { Rng, createSlimEngine, initParams } from '@slimswarm/performer';
import { Command } from 'commander';
import { z } from 'zod';
import { roundLeak } from '../src/index.js';
import { jobModel } from './job-model.js';

const Flags = z
  .object({
    json: z.boolean(),
    quick: z.boolean(),
    volunteers: z.coerce.number().int().min(1).max(16),
    threads: z.coerce.number().int().min(1).max(64),
  })
  .strict();

function parseFlags(argv: string[]): z.infer<typeof Flags> {
  const program = new Command('bench:privacy')
    .option('--json', 'JSON lines only', false)
    .option('--quick', 'the small model from random weights, short sequences', false)
    .option('--volunteers <n>', 'volunteers attacked (disjoint texts)', '3')
    .option('--threads <n>', 'onnxruntime threads', '2');
  return parseCommandLineOrExit(program, argv, Flags);
}

/** `count` sequences of L + 1 byte tokens at seeded random places of `text`. */
function sequencesOf(text: Uint8Array, seqLen: number, count: number, seed: string): Int32Array[] {
  const rng = new Rng(0, seed);
  return Array.from({ length: count }, () => {
    const at = Math.floor(rng.uniform() * (text.length - seqLen - 1));
    return Int32Array.from(text.subarray(at, at + seqLen + 1));
  });
}

async function concatenated(paths: readonly string[]): Promise<Uint8Array> {
  const parts = await Promise.all(paths.map((p) => readFile(p)));
  return new Uint8Array(Buffer.concat(parts));
}

const flags = parseFlags(process.argv.slice(2));
const job = await jobModel(flags.threads);
const config = flags.quick ? SMALL_MODEL : job.model.config;
const training = flags.quick
  ? { ...job.manifest.training, seqLen: 128, chunkSize: 32, localSteps: 8 }
  : job.manifest.training;
const engine = flags.quick
  ? await createSlimEngine(config, { chunk: training.chunkSize, threads: flags.threads, backend: 'wasm' })
  : job.model.engine;
if (flags.quick) await job.model.engine.dispose();
const base = flags.quick ? initParams(config) : job.model.base;
const { compression } = job.manifest;
const codecs = [
  { codec: compression.codec, topkFraction: compression.topkFraction },
  { codec: 'dense-f32' as const, topkFraction: 1 },
];

const files = await defaultCorpusFiles();
// Held-out English the base never trained on: a shadow the model has not already learned.
const shadowText = (await readPretrainCorpus()).heldOut;
const shadow = sequencesOf(shadowText, training.seqLen, training.localSteps, 'privacy/shadow');
for (let v = 0; v < flags.volunteers; v++) {
  // Volunteer v's text: every volunteers-th file of the repository, so the texts are disjoint.
  const text = await concatenated(files.filter((_, i) => i % flags.volunteers === v));
  const sequences = sequencesOf(text, training.seqLen, training.localSteps, `privacy/volunteer${v}`);
  const leaks = await roundLeak({
    config,
    engine,
    optimizer: training.inner,
    base,
    sequences,
    shadow,
    codecs,
  });
  for (const leak of leaks) {
    const row = {
      bench: 'privacy',
      attack: 'token-recovery',
      model: flags.quick ? 'small' : 'job',
      tokenizer: 'byte',
      volunteer: v,
      ...leak,
    };
    console.log(
      flags.json
        ? JSON.stringify(row)
        : `volunteer ${v} ${leak.codec.padEnd(9)} present ${leak.present} named ${leak.predicted}: ` +
            `recall ${leak.recall.toFixed(3)} precision ${leak.precision.toFixed(3)} AUC ${leak.auc.toFixed(3)} ` +
            `(${leak.payloadBytes} B on the wire)`,
    );
  }
}
await engine.dispose();
