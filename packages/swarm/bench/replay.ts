/**
 * What replay verification costs a joiner: a history of R rounds with N signed deltas each is built with
 * the swarm's own contribution and merge code, then replayed from the base exactly as a syncing peer does
 * (decode every frame, verify every author signature, re-merge, compare hashes). Prints one JSON line per
 * configuration: the log's bytes (what the sync transfers) and the replay's milliseconds per round.
 *
 *   node --conditions=@slimswarm/source --import tsx packages/swarm/bench/replay.ts [--json] [--quick]
 */
import '@slimswarm/node-compat';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { parseCommandLineOrExit } from '@slimswarm/node-compat/cli';
import {
  AggregationConfig,
  PROTOCOL_LIMITS,
  decodeFrame,
  mintStamp,
  type CodecId,
  type RoundRecord,
} from '@slimswarm/protocol';
import { Command } from 'commander';
import { z } from 'zod';
import { ErrorFeedbackEncoder } from '../src/codec.js';
import { makeContribution } from '../src/contribution.js';
import { DeltaLog, encodeRoundRecord } from '../src/delta-log.js';
import { HistoryReplay } from '../src/history-replay.js';
import { ModelLayout } from '../src/model-layout.js';
import { RoundState } from '../src/round-state.js';
import { deltaSigner } from '../src/signature.js';
import { modelSha256 } from '../src/wire.js';
import { syntheticManifest } from './synthetic-problem.js';

const Flags = z.object({ json: z.boolean(), quick: z.boolean() }).strict();

function parseFlags(argv: string[]) {
  const program = new Command('bench:replay')
    .option('--json', 'JSON lines only', false)
    .option('--quick', 'smoke run: few rounds', false);
  return parseCommandLineOrExit(program, argv, Flags);
}

interface Config {
  params: number;
  authors: number;
  rounds: number;
  codec: CodecId;
}

async function row(c: Config) {
  const layout = new ModelLayout({ w: [c.params] });
  const w0 = new Float32Array(c.params);
  const manifest = syntheticManifest({
    baseSha256: modelSha256(layout, w0),
    params: c.params,
    codec: c.codec,
    // The default job's rule (its parameters barely change what a merge costs; the swarm knows no job).
    aggregation: AggregationConfig.parse({
      rule: 'clipped-trimmed-mean',
      normBound: 1e6,
      trimFraction: 0.375,
    }),
  });
  const keys = await Promise.all(Array.from({ length: c.authors }, () => generateKeyPair('Ed25519')));
  const bits = manifest.admission.mode === 'open' ? manifest.admission.difficultyBits : 0;
  const who = await Promise.all(
    keys.map(async (k) => {
      const id = peerIdFromPrivateKey(k).toString();
      return { id, sign: deltaSigner(k), admission: await mintStamp(manifest.jobId, id, bits) };
    }),
  );
  const encoders = who.map(() => new ErrorFeedbackEncoder(c.params, manifest.compression));
  const state = new RoundState({ manifest, layout, weights: w0 });
  const log = new DeltaLog(2 ** 34);
  let seed = 1;
  const noise = () => ((seed = (seed * 1_103_515_245 + 12_345) >>> 0) / 2 ** 32 - 0.5) * 0.02;
  const buildStart = performance.now();
  for (let r = 0; r < c.rounds; r++) {
    who.forEach((id, i) => {
      const local = Float32Array.from(state.weights, (w) => w + noise());
      const { delta } = makeContribution(state, {
        encoder: encoders[i]!,
        peer: id.id,
        localWeights: local,
        stats: { tokens: 1000, steps: 8, meanLoss: 1 },
        maxPartBytes: 1 << 30,
        sign: id.sign,
        admission: id.admission,
      });
      state.addOwn(delta, 0);
    });
    const closed = state.close(0);
    log.append(encodeRoundRecord(manifest.jobId, closed, closed.merged));
  }
  const buildMs = performance.now() - buildStart;

  const start = performance.now();
  const replay = new HistoryReplay(manifest, layout, { round: 0, weights: w0 });
  for (const r of log.all()) {
    const [head, ...deltas] = r.frames;
    const maxBytes = PROTOCOL_LIMITS.maxStreamFrameBytes;
    replay.apply({
      record: decodeFrame(head!, { maxBytes }).message as RoundRecord,
      recordBytes: head!,
      deltas: deltas.map((bytes) => ({ frame: decodeFrame(bytes, { maxBytes }), bytes })),
    });
  }
  const replayMs = performance.now() - start;
  if (replay.state.modelSha256 !== state.modelSha256) throw new Error('the replay diverged from the history');
  return {
    bench: 'replay',
    params: c.params,
    authors: c.authors,
    rounds: c.rounds,
    codec: c.codec,
    logBytes: log.bytes,
    logBytesPerRound: Math.round(log.bytes / c.rounds),
    replayMs: Math.round(replayMs),
    msPerRound: +(replayMs / c.rounds).toFixed(2),
    msPerDelta: +(replayMs / (c.rounds * c.authors)).toFixed(2),
    /** The same rounds' original contributions and merges, for scale. */
    buildMs: Math.round(buildMs),
  };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  // The default job's parameter count (116 k), top-k as it ships, and dense for comparison.
  const rounds = flags.quick ? 4 : 50;
  const configs: Config[] = [
    { params: 116_480, authors: 3, rounds, codec: 'topk-int8' },
    { params: 116_480, authors: 8, rounds, codec: 'topk-int8' },
    { params: 116_480, authors: 8, rounds: flags.quick ? 2 : 10, codec: 'dense-f32' },
  ];
  for (const c of configs) {
    const r = await row(c);
    process.stdout.write(
      flags.json
        ? `${JSON.stringify(r)}\n`
        : `${Object.entries(r)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}\n`,
    );
  }
}

await main();
