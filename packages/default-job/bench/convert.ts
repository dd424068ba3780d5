// The polyfills must come first in every Node entry point.
import '@slimswarm/node-compat';
/**
 * Softmax → FAVOR+ conversion error (issue #14): how far the next-token distributions of a softmax-attention
 * model move when its attention is swapped for FAVOR+ with M random features, before any fine-tuning.
 *
 *   npm run bench:convert [-- --quick] [-- --json] [-- --teacher <checkpoint>]
 *
 * A random model's attention is nearly uniform, which FAVOR+ approximates trivially, and no pretrained
 * weights can be downloaded here; so the bench first trains a Llama-family teacher with exact causal
 * softmax attention (performer's softmax/ graph, AdamW, one wasm thread: deterministic for the same
 * settings) on the pretraining corpus (pretrain-corpus.ts). It is retrained on every run rather than
 * committed: the full teacher is 3.2 MB of weights. `--teacher <file>` caches it: read when the file
 * exists (refused if its config differs), else written after training.
 *
 * Then, on a held-out text (documents the teacher never saw), both float64 references run the same
 * parameters: exact softmax attention (naive/softmax.ts) and FAVOR+ (naive/model.ts) with the layer's ω
 * at M features, for several ω seeds per M. One JSON line per M: KL(softmax ‖ FAVOR+) averaged over the
 * text's positions (mean ± std over seeds), the largest at one position, and each model's cross-entropy.
 * A first line describes the teacher, including its ONNX graph's largest logit difference from the
 * float64 softmax reference on the same parameters.
 */
import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { z } from 'zod';
import { ModelConfig } from '@slimswarm/protocol';
import { parseCommandLineOrExit } from '@slimswarm/node-compat/cli';
import {
  conversionError,
  configureThreads,
  drawFeatures,
  paramCount,
  softmaxLogProbs,
  SoftmaxTeacher,
  softmaxAttentionLogits,
  trainSoftmaxTeacher,
  type Params,
} from '@slimswarm/performer';
import { readCheckpointFile, writeCheckpointFile } from '@slimswarm/performer/node';
import { readPretrainCorpus } from '../src/pretrain-corpus.js';

const Flags = z
  .object({ json: z.boolean(), quick: z.boolean(), teacher: z.string().min(1).optional() })
  .strict();

const program = new Command('bench:convert')
  .option('--json', 'JSON lines only', false)
  .option('--quick', 'a small teacher and text (well under a minute)', false)
  .option('--teacher <file>', 'teacher checkpoint: read if it exists, else trained and written there');
const flags = parseCommandLineOrExit(program, process.argv.slice(2), Flags);

/** Llama family: RMSNorm, SwiGLU, RoPE, grouped-query attention, untied head, no biases; bytes. */
const llama = (
  dModel: number,
  nLayers: number,
  nHeads: number,
  nKvHeads: number,
  ffnSize: number,
): ModelConfig =>
  ModelConfig.parse({
    dModel,
    nLayers,
    nHeads,
    nKvHeads,
    nFeatures: 16, // the teacher has no features; every measurement sets its own M
    vocabSize: 256,
    ffnSize,
    norm: 'rmsnorm',
    mlp: 'swiglu',
    bias: { qkv: false, attnOut: false, mlp: false },
    tiedHead: false,
    seed: 14,
  });

const SETTINGS = {
  full: {
    config: llama(128, 4, 4, 2, 352),
    training: { batch: 4, seqLen: 256, steps: 400, warmupSteps: 30, lr: 2e-3 },
    /** Held-out windows of seqLen + 1 bytes (seqLen predictions each). */
    texts: 8,
    seeds: 4,
  },
  quick: {
    config: llama(32, 2, 2, 1, 88),
    training: { batch: 4, seqLen: 64, steps: 60, warmupSteps: 10, lr: 3e-3 },
    texts: 4,
    seeds: 3,
  },
};
const FEATURES = [16, 64, 256];
const settings = flags.quick ? SETTINGS.quick : SETTINGS.full;
const { config, training } = settings;

const print = (row: Record<string, unknown>, text: string): void =>
  console.log(flags.json ? JSON.stringify(row) : text);

configureThreads(1);
const corpus = await readPretrainCorpus();
const started = performance.now();
let params: Params;
let trainLoss: number | null = null;
if (flags.teacher !== undefined && existsSync(flags.teacher)) {
  params = (await readCheckpointFile(flags.teacher, { config })).params;
} else {
  const losses: number[] = [];
  params = await trainSoftmaxTeacher(config, corpus.train, {
    ...training,
    optimizer: { kind: 'adamw', lr: training.lr, weightDecay: 0.1, gradClip: 1 },
    seed: 1,
    onStep: (step, loss) => {
      losses.push(loss);
      if (!flags.json && step % 50 === 0)
        process.stderr.write(`teacher step ${step}: loss ${loss.toFixed(3)}\n`);
    },
  });
  const tail = losses.slice(-20);
  trainLoss = tail.reduce((a, b) => a + b, 0) / tail.length;
  if (flags.teacher !== undefined) {
    await writeCheckpointFile(flags.teacher, { config, params, step: training.steps, featureEpoch: 0 });
  }
}
const trainSeconds = (performance.now() - started) / 1000;

// The held-out text: consecutive windows from the start of the held-out documents.
const L = training.seqLen;
const texts = Array.from({ length: settings.texts }, (_, i) =>
  Int32Array.from(corpus.heldOut.subarray(i * L, (i + 1) * L + 1)),
);
const teacherLogProbs = softmaxLogProbs(config, params, texts);

// The trained ONNX graph is the model the float64 softmax reference describes.
const graph = new SoftmaxTeacher(config, { batch: 1, seqLen: L });
const inputs = texts[0]!.subarray(0, L);
const graphLogits = await graph.logits(params, inputs);
await graph.release();
const reference = softmaxAttentionLogits(config, params, inputs);
let graphMaxAbsErr = 0;
for (let i = 0; i < reference.length; i++)
  graphMaxAbsErr = Math.max(graphMaxAbsErr, Math.abs(graphLogits[i]! - reference[i]!));

print(
  {
    teacher: { ...training, params: paramCount(config), dModel: config.dModel, nLayers: config.nLayers },
    trained: trainLoss !== null,
    trainLoss,
    trainSeconds,
    graphMaxAbsErr,
    heldOutTokens: settings.texts * L,
  },
  `teacher: ${paramCount(config)} params, ${trainLoss === null ? 'read from ' + flags.teacher : `train loss ${trainLoss.toFixed(3)} after ${training.steps} steps`} (${trainSeconds.toFixed(0)} s); graph vs fp64 softmax logits max |Δ| ${graphMaxAbsErr.toExponential(1)}`,
);

for (const m of FEATURES) {
  const runs = Array.from({ length: settings.seeds }, (_, s) => {
    const favor = ModelConfig.parse({ ...config, nFeatures: m, seed: 1000 + s });
    return conversionError(favor, params, texts, drawFeatures(favor), teacherLogProbs);
  });
  const kls = runs.map((r) => r.kl);
  const klMean = kls.reduce((a, b) => a + b, 0) / kls.length;
  const klStd = Math.sqrt(kls.reduce((a, b) => a + (b - klMean) ** 2, 0) / Math.max(1, kls.length - 1));
  const row = {
    M: m,
    seeds: settings.seeds,
    klMean,
    klStd,
    klMax: Math.max(...runs.map((r) => r.klMax)),
    ceSoftmax: runs[0]!.ceSoftmax,
    ceFavor: runs.reduce((a, r) => a + r.ceFavor, 0) / runs.length,
    tokens: runs[0]!.tokens,
  };
  print(
    row,
    `M=${m}`.padEnd(7) +
      ` KL ${klMean.toPrecision(3)} ± ${klStd.toPrecision(2)} nats (max ${row.klMax.toPrecision(3)}),` +
      ` CE softmax ${row.ceSoftmax.toFixed(3)}, FAVOR+ ${row.ceFavor.toFixed(3)} over ${row.tokens} tokens`,
  );
}
