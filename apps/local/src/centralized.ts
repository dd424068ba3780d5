/**
 * The centralized baseline of the demo: one process, one model, trained on every shard — what the swarm
 * would reach if all its text sat in one place. Same job (model, inner AdamW, sequence length, the base
 * weights the coordinator published), same number of tokens (a "round" is peers × localSteps sequences,
 * dealt from the shards in turn, so every step of a round sees the next shard), plain training: no
 * outer step, no compression, no merge. Scored after every round-equivalent by the trainer's own
 * evaluation on worker 0's held-out sequences; tokens/s is the client's one definition (RoundThroughput).
 */
import { RoundThroughput } from '@slimswarm/client';
import { Rng, Trainer, createSlimEngine, type Params } from '@slimswarm/performer';
import type { JobManifest } from '@slimswarm/protocol';
import { trainingSequences } from '@slimswarm/worker';

export interface CentralizedOptions {
  manifest: JobManifest;
  /** The base weights the swarm started from. */
  base: Params;
  /** Training text, one file per swarm peer: a round takes localSteps sequences from each. */
  shards: readonly string[];
  /** The held-out sequences (L + 1 ids each) the swarm's worker 0 scores. */
  heldOut: readonly Int32Array[];
  rounds: number;
  /** onnxruntime threads (the demo gives it the cores the swarm's workers share). */
  threads: number;
  /** Score every this many rounds (and after the last); default 1, every round. */
  evalEvery?: number;
  /** Each evaluation as it happens (round 0 is the base). */
  onEval?: (e: CentralizedEval) => void;
}

export interface CentralizedEval {
  round: number;
  /** Mean nats per held-out token. */
  heldOutLoss: number;
}

export interface CentralizedResult {
  evals: CentralizedEval[];
  /** Tokens trained (predicted positions). */
  tokens: number;
  tokensPerSec: number;
}

/** The training stream's seed for shard `index`: fixed, so reruns see the same order. */
function shardSeed(index: number): number {
  return new Rng(0, `data-order/centralized/${index}`).nextU32();
}

export async function runCentralized(opts: CentralizedOptions): Promise<CentralizedResult> {
  const { manifest } = opts;
  const { seqLen, chunkSize, localSteps, inner } = manifest.training;
  const engine = await createSlimEngine(manifest.model, {
    chunk: chunkSize,
    threads: opts.threads,
    backend: 'wasm',
  });
  try {
    const trainer = new Trainer({ config: manifest.model, optimizer: inner, engine, params: opts.base });
    const streams = opts.shards.map((path, i) => trainingSequences([path], seqLen, shardSeed(i)));
    const evals: CentralizedEval[] = [];
    const evaluate = async (round: number): Promise<void> => {
      const e = { round, heldOutLoss: await trainer.evaluate(opts.heldOut) };
      evals.push(e);
      opts.onEval?.(e);
    };
    const throughput = new RoundThroughput();
    await evaluate(0);
    for (let round = 1; round <= opts.rounds; round++) {
      for (let h = 0; h < localSteps; h++) {
        for (const stream of streams) {
          await throughput.time(async () => {
            const next = await stream.next();
            if (next.done) throw new Error('the training data ended'); // streams cycle: a bug if seen
            return trainer.step(next.value);
          });
        }
      }
      if (round % (opts.evalEvery ?? 1) === 0 || round === opts.rounds) await evaluate(round);
    }
    return { evals, tokens: throughput.tokens, tokensPerSec: throughput.tokensPerSec };
  } finally {
    await engine.dispose();
  }
}
