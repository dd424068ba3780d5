/**
 * `npm run bench:privacy`: what one published delta reveals about the volunteer's text, and what a private
 * job (its Gaussian mechanism, docs/privacy.md) changes about that and about the model (issue #16).
 *
 * Settings: ε = ∞ (no mechanism) and the ε targets of `--epsilons` (default 10, 4, 1), each spent over the
 * bench's `--rounds` rounds at δ = 1e-6: the noise multiplier z of each is computed by our accountant
 * (packages/privacy, noiseMultiplierFor), the clip norm is `--clip`.
 *
 * Token recovery: each volunteer trains one round (the job's H local steps) from the shared model on its
 * own text; the attacker — any other peer — sees the delta as the wire carries it (clipped and noised in
 * a private job, then the job's codec, decoded as every receiver decodes it) and names the distinct
 * tokens of the round from the delta's token-embedding rows, with the rule it learned from a shadow round
 * on text of its own (English from the pretraining corpus' held-out part, which the base never saw),
 * noised the same way. One JSON line per (setting, volunteer, codec):
 *
 *   {"bench":"privacy","attack":"token-recovery","model","tokenizer","epsilon","noiseMultiplier","clipNorm",
 *    "codec","topkFraction","volunteer","present","predicted","recall","precision","auc","payloadBytes"}
 *
 * Canary exposure (The Secret Sharer): a canary "my PIN is d d d d d d", its digits random, is put k times
 * (`--ks`, default 1, 4, 16) into a volunteer's text — each volunteer its own PIN, in its text only; the
 * volunteers train `--rounds` rounds together (private-rounds.ts; the texts are sized so those rounds read
 * each `--passes` times), and the shared model ranks each canary among `--candidates` random PINs. Beside it, the shared model's held-out bits per byte
 * (text none of them trained on), so privacy and utility sit side by side. One line per (setting, k):
 *
 *   {"bench":"privacy","attack":"canary","model","epsilon","noiseMultiplier","clipNorm","rounds","passes",
 *    "volunteers","k","candidates","ranks","exposures","exposure","heldOutBitsPerByte"}
 *
 * (`ranks` and `exposures` per volunteer's canary, `exposure` their mean, `candidates` counts the canary.)
 *
 * `epsilon` is null for ε = ∞ (JSON has no infinity). Full run: the default job's model from its base on
 * the SLiM engine, its codec (top-k int8 at 5 %) and an uncompressed delta beside it, three volunteers
 * whose texts are disjoint files of this repository. `--quick`: the small job's model from random weights,
 * sequences of 128, 6 rounds over texts read 3 times, 255 candidates.
 */
import { readFile } from 'node:fs/promises';
import '@slimswarm/node-compat';
import { parseCommandLineOrExit } from '@slimswarm/node-compat/cli';
import { SMALL_MODEL, defaultCorpusFiles, readPretrainCorpus } from '@slimswarm/default-job';
import { Rng, Trainer, createSlimEngine, initParams } from '@slimswarm/performer';
import { noiseMultiplierFor } from '@slimswarm/privacy';
import { Command } from 'commander';
import { z } from 'zod';
import {
  PIN_CANARY,
  candidateSequences,
  canaryText,
  exposureOf,
  insertCanary,
  randomSecrets,
  roundLeak,
  trainPrivateRounds,
} from '../src/index.js';
import { jobModel } from './job-model.js';

/** "10,4,1" → [10, 4, 1]. */
const NumberList = z
  .string()
  .transform((s) => s.split(',').map(Number))
  .pipe(z.array(z.number().finite().positive()).min(1));

const Flags = z
  .object({
    json: z.boolean(),
    quick: z.boolean(),
    volunteers: z.coerce.number().int().min(1).max(16),
    threads: z.coerce.number().int().min(1).max(64),
    epsilons: NumberList,
    ks: NumberList.pipe(z.array(z.number().int().max(256))),
    rounds: z.coerce.number().int().min(1).max(1000).optional(),
    candidates: z.coerce.number().int().min(1).max(100_000).optional(),
    passes: z.coerce.number().int().min(1).max(100).optional(),
    clip: z.coerce.number().finite().positive(),
  })
  .strict();

function parseFlags(argv: string[]): z.infer<typeof Flags> {
  const program = new Command('bench:privacy')
    .option('--json', 'JSON lines only', false)
    .option('--quick', 'the small model from random weights, short sequences', false)
    .option('--volunteers <n>', 'volunteers attacked (disjoint texts)', '3')
    .option('--threads <n>', 'onnxruntime threads', '2')
    .option('--epsilons <list>', 'ε targets of the private settings, over the rounds (δ = 1e-6)', '10,4,1')
    .option('--ks <list>', 'how many times the canary is in the text', '1,4,16')
    .option('--rounds <n>', 'rounds of the canary runs, over which ε is spent (default 8, quick 6)')
    .option('--passes <n>', 'times the canary runs read each text (default 1, quick 3)')
    .option('--candidates <n>', 'random PINs the canary is ranked among (default 999, quick 255)')
    .option('--clip <C>', "the private job's clip norm", '0.05');
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

const DELTA = 1e-6;
const rounds = flags.rounds ?? (flags.quick ? 6 : 8);
const candidates = flags.candidates ?? (flags.quick ? 255 : 999);
const passes = flags.passes ?? (flags.quick ? 3 : 1);
const model = flags.quick ? 'small' : 'job';
/** ε = ∞ (no mechanism), then each target with the z that spends it over the rounds. */
const settings = [
  { epsilon: null, privacy: undefined },
  ...flags.epsilons.map((epsilon) => ({
    epsilon,
    privacy: {
      clipNorm: flags.clip,
      noiseMultiplier: noiseMultiplierFor({ epsilon, delta: DELTA, releases: rounds }),
    },
  })),
];
const setting = (s: (typeof settings)[number]) => ({
  epsilon: s.epsilon,
  noiseMultiplier: s.privacy?.noiseMultiplier ?? null,
  clipNorm: s.privacy?.clipNorm ?? null,
});
const epsilonName = (epsilon: number | null) => `ε ${epsilon ?? '∞'}`.padEnd(6);

const files = await defaultCorpusFiles();
// Held-out English the base never trained on: a shadow the model has not already learned.
const shadowText = (await readPretrainCorpus()).heldOut;
const shadow = sequencesOf(shadowText, training.seqLen, training.localSteps, 'privacy/shadow');
for (const s of settings) {
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
      ...(s.privacy ? { privacy: s.privacy } : {}),
    });
    for (const leak of leaks) {
      const row = {
        bench: 'privacy',
        attack: 'token-recovery',
        model,
        tokenizer: 'byte',
        ...setting(s),
        volunteer: v,
        ...leak,
      };
      console.log(
        flags.json
          ? JSON.stringify(row)
          : `${epsilonName(s.epsilon)} volunteer ${v} ${leak.codec.padEnd(9)} present ${leak.present} named ${leak.predicted}: ` +
              `recall ${leak.recall.toFixed(3)} precision ${leak.precision.toFixed(3)} AUC ${leak.auc.toFixed(3)} ` +
              `(${leak.payloadBytes} B on the wire)`,
      );
    }
  }
}

// Canary runs: the repository's files end to end, one slice per volunteer sized to be read `passes`
// times in the rounds (a volunteer's loop reads its text in passes), and held-out text after them that
// no volunteer trains on.
const corpus = await concatenated(files);
const sliceBytes = Math.ceil(rounds / passes) * training.localSteps * training.seqLen + 1;
const slice = (v: number) => new TextDecoder().decode(corpus.subarray(v * sliceBytes, (v + 1) * sliceBytes));
const heldOutStart = flags.volunteers * sliceBytes;
const heldOut = Array.from({ length: flags.quick ? 8 : 16 }, (_, i) => {
  const at = heldOutStart + i * training.seqLen;
  return Int32Array.from(corpus.subarray(at, at + training.seqLen + 1));
});
// Candidates follow the same held-out line break, so only their own bytes differ.
const contextBytes = new TextDecoder().decode(
  corpus.subarray(heldOutStart, heldOutStart + 2 * training.seqLen),
);
const context = contextBytes.slice(0, contextBytes.lastIndexOf('\n') + 1);
// One canary per volunteer, each its own PIN, k times in that volunteer's text only: V measurements of
// the same question per run (a single canary's rank is noisy), none crowding one text.
const secrets = randomSecrets(PIN_CANARY, flags.volunteers, 'privacy/canary');
const canaries = secrets.map((secret) => canaryText(PIN_CANARY, secret));
const others = randomSecrets(PIN_CANARY, candidates, 'privacy/candidates', secrets).map((o) =>
  canaryText(PIN_CANARY, o),
);
const scored = candidateSequences(context, [...canaries, ...others], training.seqLen + 1);
const encoder = new TextEncoder();
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
for (const s of settings) {
  for (const k of flags.ks) {
    const texts = canaries.map((canary, v) => {
      // Room for the k canary lines, so the text still fits the rounds.
      const room = k * (encoder.encode(canary).length + 1);
      const own = slice(v).slice(0, Math.max(0, sliceBytes - room));
      return encoder.encode(insertCanary(own, canary, k, `privacy/insert/${v}/${k}`));
    });
    const shared = await trainPrivateRounds({
      config,
      engine,
      optimizer: training.inner,
      outer: job.manifest.outer,
      base,
      texts,
      seqLen: training.seqLen,
      localSteps: training.localSteps,
      rounds,
      ...(s.privacy ? { privacy: s.privacy } : {}),
    });
    const trainer = new Trainer({ config, optimizer: training.inner, engine, params: shared });
    const heldOutBitsPerByte = (await trainer.evaluate(heldOut)) / Math.LN2;
    const scores: number[] = [];
    for (const seq of scored) scores.push(await trainer.evaluate([seq]));
    const otherScores = scores.slice(canaries.length);
    const found = canaries.map((_, v) => exposureOf([scores[v]!, ...otherScores]));
    const row = {
      bench: 'privacy',
      attack: 'canary',
      model,
      ...setting(s),
      rounds,
      passes,
      volunteers: flags.volunteers,
      k,
      candidates: candidates + 1,
      /** Each volunteer's canary, and their mean. */
      ranks: found.map((f) => f.rank),
      exposures: found.map((f) => f.exposure),
      exposure: mean(found.map((f) => f.exposure)),
      heldOutBitsPerByte,
    };
    console.log(
      flags.json
        ? JSON.stringify(row)
        : `${epsilonName(s.epsilon)} canary ×${String(k).padEnd(3)} ranks ${row.ranks.join(', ')} of ${row.candidates}: ` +
            `exposure ${row.exposure.toFixed(2)} bits (mean) · held-out ${heldOutBitsPerByte.toFixed(3)} bits/byte`,
    );
  }
}
await engine.dispose();
