/**
 * One volunteer's round as every other peer sees it: H local steps from the shared model on the
 * volunteer's own sequences, the pseudo-gradient Δ = g − w_local, compressed with the job's codec and
 * decoded as a receiver does; then the token-recovery attack on the decoded Δ's embedding rows, with the
 * rule the attacker learned from a shadow round of its own.
 */
import { Trainer, type GradientEngine, type ModelConfig, type Params } from '@slimswarm/performer';
import type { CodecId, InnerOptimizer, PrivacyConfig } from '@slimswarm/protocol';
import { ModelLayout, decodeDelta, encodeDelta, privatizeDelta } from '@slimswarm/swarm';
import { calibrateRecovery, recoverTokens, type TokenRecovery } from './token-recovery.js';

export interface RoundLeakOptions {
  config: ModelConfig;
  engine: GradientEngine;
  optimizer: InnerOptimizer;
  base: Params;
  /** The volunteer's round: H sequences of L + 1 token ids. */
  sequences: readonly Int32Array[];
  /** The attacker's own round on text it knows (its shadow), same length. */
  shadow: readonly Int32Array[];
  codecs: readonly { codec: CodecId; topkFraction: number }[];
  /**
   * A private job's mechanism (clip C, noise multiplier z), applied to both rounds before the codec: the
   * attacker knows the job's settings and calibrates on a shadow delta noised the same way.
   */
  privacy?: Pick<PrivacyConfig, 'clipNorm' | 'noiseMultiplier'>;
}

export interface RoundLeak extends TokenRecovery {
  codec: CodecId;
  topkFraction: number;
  /** Bytes of the encoded payload's tensors. */
  payloadBytes: number;
}

/** The distinct ids of the round (inputs and targets). */
export function distinctTokens(sequences: readonly Int32Array[]): Set<number> {
  const present = new Set<number>();
  for (const s of sequences) for (const id of s) present.add(id);
  return present;
}

/** Δ = g − w_local after one round of local steps on `sequences` from `start` (flat, not changed). */
export async function roundDelta(
  opts: Pick<RoundLeakOptions, 'config' | 'engine' | 'optimizer'>,
  layout: ModelLayout,
  start: Float32Array,
  sequences: readonly Int32Array[],
): Promise<Float32Array> {
  const trainer = new Trainer({
    config: opts.config,
    optimizer: opts.optimizer,
    engine: opts.engine,
    params: layout.view(Float32Array.from(start)),
  });
  for (const s of sequences) await trainer.step(s);
  const local = layout.flatten(trainer.getParams());
  return Float32Array.from(start, (g, i) => g - local[i]!);
}

export async function roundLeak(opts: RoundLeakOptions): Promise<RoundLeak[]> {
  const { config } = opts;
  const layout = ModelLayout.fromWeights(opts.base);
  const embedding = layout.tensors.find((t) => t.name === 'tok_emb');
  if (!embedding) throw new Error('the model has no tok_emb tensor');
  const start = layout.flatten(opts.base);
  const victim = await roundDelta(opts, layout, start, opts.sequences);
  const shadow = await roundDelta(opts, layout, start, opts.shadow);
  const present = distinctTokens(opts.sequences);
  const shadowPresent = distinctTokens(opts.shadow);
  /**
   * The embedding rows of Δ as a receiver decodes them: in a private job clipped and noised first
   * (afresh for each codec, as each would be a release of its own), as the peer does before its codec.
   */
  const received = (delta: Float32Array, codec: CodecId, topkFraction: number) => {
    const sent = opts.privacy ? privatizeDelta(Float32Array.from(delta), opts.privacy) : delta;
    const tensors = encodeDelta(sent, { codec, topkFraction });
    const decoded = decodeDelta(codec, tensors, { params: sent.length, topkFraction });
    const payloadBytes = Object.values(tensors).reduce((n, t) => n + t.data.byteLength, 0);
    return { rows: decoded.subarray(embedding.offset, embedding.offset + embedding.size), payloadBytes };
  };
  return opts.codecs.map(({ codec, topkFraction }) => {
    const rule = calibrateRecovery(
      received(shadow, codec, topkFraction).rows,
      config.vocabSize,
      shadowPresent,
    );
    const { rows, payloadBytes } = received(victim, codec, topkFraction);
    return { codec, topkFraction, payloadBytes, ...recoverTokens(rows, config.vocabSize, present, rule) };
  });
}
