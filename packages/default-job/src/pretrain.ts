// The polyfills must come first in every Node entry point (this one pulls in no libp2p, but stays uniform).
import '@slimswarm/node-compat';
/**
 * `npm run pretrain`: trains the default model from its seeded init on generated prose and writes the base
 * checkpoint the default job fine-tunes (assets/base.safetensors, committed). Deterministic for the same
 * flags on the same engine build.
 */
import { Command } from 'commander';
import { z } from 'zod';
import { createSlimEngine, Trainer, streamSequences, type ByteSource } from '@slimswarm/performer';
import { sha256Hex } from '@slimswarm/protocol';
import { writeFileAtomic } from '@slimswarm/node-compat/fs';
import { isHelpExit, parseCommandLine } from '@slimswarm/node-compat/cli';
import { DEFAULT_BASE_PATH, DEFAULT_CHUNK, DEFAULT_MODEL, DEFAULT_SEQ_LEN } from './job.js';
import { syntheticProse } from './synthetic-prose.js';
import { encodeBaseWeights } from './base.js';

const Options = z
  .object({
    steps: z.coerce.number().int().min(1).max(1_000_000),
    out: z.string().min(1),
    threads: z.coerce.number().int().min(1).max(64),
    lr: z.coerce.number().gt(0).lte(1),
    json: z.boolean(),
  })
  .strict();

const program = new Command('pretrain')
  .description('Pretrain the default model on generated prose and write the base checkpoint.')
  .option('--steps <n>', 'optimiser steps', '1500')
  .option('--out <file>', 'where to write the base checkpoint', DEFAULT_BASE_PATH)
  .option('--threads <n>', 'compute threads', '2')
  .option('--lr <lr>', 'AdamW learning rate', '0.003')
  .option('--json', 'JSON lines', false);
let opts: z.infer<typeof Options>;
try {
  opts = parseCommandLine(program, process.argv.slice(2), Options);
} catch (e) {
  if (!isHelpExit(e)) process.stderr.write(`pretrain: ${(e as Error).message}\n`);
  process.exit(isHelpExit(e) ? 0 : 2);
}
const report = (o: Record<string, unknown>, human: string): void => {
  process.stdout.write((opts.json ? JSON.stringify(o) : human) + '\n');
};

const corpus = new TextEncoder().encode(syntheticProse(1, 4 << 20));
const source: ByteSource = async function* () {
  yield corpus;
};
const sequences = streamSequences(source, {
  seqLen: DEFAULT_SEQ_LEN,
  epochs: Infinity,
  shuffle: { bufferSize: 256, seed: 1 },
});
const engine = await createSlimEngine(DEFAULT_MODEL, { chunk: DEFAULT_CHUNK, threads: opts.threads });
const trainer = new Trainer({
  config: DEFAULT_MODEL,
  optimizer: { kind: 'adamw', lr: opts.lr, weightDecay: 0.01, gradClip: 1 },
  engine,
});
const started = performance.now();
let window = 0;
for (let step = 1; step <= opts.steps; step++) {
  const next = await sequences.next();
  if (next.done) break;
  const { loss } = await trainer.step(next.value.tokens);
  window += loss;
  if (step % 100 === 0 || step === opts.steps) {
    const seconds = (performance.now() - started) / 1000;
    const count = step % 100 === 0 ? 100 : step % 100;
    report(
      { step, loss: window / count, tokensPerSec: (step * DEFAULT_SEQ_LEN) / seconds },
      `step ${step}/${opts.steps} · loss ${(window / count).toFixed(3)} · ${((step * DEFAULT_SEQ_LEN) / seconds).toFixed(0)} tok/s`,
    );
    window = 0;
  }
}
await engine.dispose();
const bytes = encodeBaseWeights(DEFAULT_MODEL, trainer.getParams());
await writeFileAtomic(opts.out, bytes);
report(
  { out: opts.out, bytes: bytes.length, sha256: sha256Hex(bytes) },
  `wrote ${opts.out} (${bytes.length} bytes, sha256 ${sha256Hex(bytes)})`,
);
