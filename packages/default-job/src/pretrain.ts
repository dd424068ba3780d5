// The polyfills must come first in every Node entry point (this one pulls in no libp2p, but stays uniform).
import '@slimswarm/node-compat';
/**
 * `npm run pretrain`: trains the default model from its seeded init on real English (pretrain-corpus.ts:
 * State of the Union addresses and Moby-Dick, installed from npm) and writes the base checkpoint the
 * default job fine-tunes (assets/base.safetensors, committed). Linear warm-up, then cosine decay to a
 * tenth of the peak learning rate. The checkpoint is rewritten (atomically) every `--save-every` steps,
 * so a stopped run leaves a usable base. Deterministic for the same flags on the same engine build.
 */
import { Command } from 'commander';
import { z } from 'zod';
import {
  createSlimEngine,
  Trainer,
  streamSequences,
  warmupCosineScale,
  type ByteSource,
} from '@slimswarm/performer';
import { sha256Hex } from '@slimswarm/protocol';
import { writeFileAtomic } from '@slimswarm/node-compat/fs';
import { isHelpExit, parseCommandLine } from '@slimswarm/node-compat/cli';
import { DEFAULT_BASE_PATH, DEFAULT_CHUNK, DEFAULT_MODEL, DEFAULT_SEQ_LEN } from './job.js';
import { readPretrainCorpus } from './pretrain-corpus.js';
import { encodeBaseWeights } from '@slimswarm/performer/weights';

const Options = z
  .object({
    steps: z.coerce.number().int().min(1).max(1_000_000),
    out: z.string().min(1),
    threads: z.coerce.number().int().min(1).max(64),
    lr: z.coerce.number().gt(0).lte(1),
    warmup: z.coerce.number().int().min(0),
    saveEvery: z.coerce.number().int().min(1),
    evalEvery: z.coerce.number().int().min(1),
    json: z.boolean(),
  })
  .strict();

const program = new Command('pretrain')
  .description('Pretrain the default model on public-domain English and write the base checkpoint.')
  .option('--steps <n>', 'optimiser steps (one sequence each)', '200')
  .option('--out <file>', 'where to write the base checkpoint', DEFAULT_BASE_PATH)
  .option('--threads <n>', 'compute threads', '2')
  .option('--lr <lr>', 'peak AdamW learning rate', '0.003')
  .option('--warmup <n>', 'linear warm-up steps', '20')
  .option('--save-every <n>', 'rewrite the checkpoint every n steps', '25')
  .option('--eval-every <n>', 'held-out loss every n steps', '25')
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

const corpus = await readPretrainCorpus();
const source = (bytes: Uint8Array): ByteSource =>
  async function* () {
    yield bytes;
  };
const sequences = streamSequences(source(corpus.train), {
  seqLen: DEFAULT_SEQ_LEN,
  epochs: Infinity,
  shuffle: { bufferSize: 256, seed: 1 },
});
const heldOut: Int32Array[] = [];
for await (const s of streamSequences(source(corpus.heldOut), { seqLen: DEFAULT_SEQ_LEN })) {
  if (heldOut.push(s.tokens) === 4) break;
}
const engine = await createSlimEngine(DEFAULT_MODEL, { chunk: DEFAULT_CHUNK, threads: opts.threads });
const trainer = new Trainer({
  config: DEFAULT_MODEL,
  optimizer: { kind: 'adamw', lr: opts.lr, weightDecay: 0.01, gradClip: 1 },
  engine,
});
const save = async (): Promise<Uint8Array> => {
  const bytes = encodeBaseWeights(DEFAULT_MODEL, trainer.getParams());
  await writeFileAtomic(opts.out, bytes);
  return bytes;
};
report(
  { trainBytes: corpus.train.length, heldOutBytes: corpus.heldOut.length, documents: corpus.documents },
  `corpus: ${corpus.documents} documents, ${corpus.train.length} bytes to train on, ${corpus.heldOut.length} held out`,
);
const started = performance.now();
let window = 0;
let count = 0;
for (let step = 1; step <= opts.steps; step++) {
  const next = await sequences.next();
  if (next.done) break;
  const { loss } = await trainer.step(next.value.tokens, warmupCosineScale(step, opts.warmup, opts.steps));
  window += loss;
  count++;
  if (step % opts.saveEvery === 0) await save();
  if (step % opts.evalEvery === 0 || step === opts.steps) {
    const seconds = (performance.now() - started) / 1000;
    const heldOutLoss = await trainer.evaluate(heldOut);
    const tokensPerSec = (step * DEFAULT_SEQ_LEN) / seconds;
    report(
      { step, loss: window / count, heldOutBitsPerByte: heldOutLoss / Math.LN2, tokensPerSec, seconds },
      `step ${step}/${opts.steps} · loss ${(window / count).toFixed(3)} · held-out ${(heldOutLoss / Math.LN2).toFixed(3)} bits/byte · ${tokensPerSec.toFixed(0)} tok/s`,
    );
    window = 0;
    count = 0;
  }
}
await engine.dispose();
const bytes = await save();
report(
  { out: opts.out, bytes: bytes.length, sha256: sha256Hex(bytes) },
  `wrote ${opts.out} (${bytes.length} bytes, sha256 ${sha256Hex(bytes)})`,
);
