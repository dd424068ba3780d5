/**
 * One attacked training run, round by round, in process: the honest peers train from the shared model
 * and compress their deltas with the job's codec and error feedback; the adversary crafts its f deltas
 * from theirs; every delta goes through the swarm's own payload verdict (`checkPayload`: codec shape,
 * finite values, norm bound); the accepted ones are merged in canonical order by the swarm's own rule
 * (`aggregate`) and outer step (`nesterovStep`) — the code every peer runs when a round closes. What the
 * network adds (signatures, replay, equivocation) is tested with real peers elsewhere; this measures the
 * merge rule itself, on many seeds, fast.
 *
 * Dimension legend: P parameters, n peers, f Byzantine, h = n − f honest.
 */
import { sha256Hex, type JobManifest } from '@slimswarm/protocol';
import {
  ErrorFeedbackEncoder,
  aggregate,
  checkPayload,
  clipToRound,
  compactDelta,
  compareCodeUnits,
  densify,
  encodeDelta,
  encodeDeltaPayload,
  nesterovStep,
  type HeldDelta,
} from '@slimswarm/swarm';
import { rng } from '@slimswarm/swarm/synthetic-problem';
import { craftAttack, l2, type AttackName } from './attacks.js';

/** A training problem the swarm fine-tunes: synthetic least squares, or a real (tiny) Performer. */
export interface Problem {
  readonly name: string;
  readonly params: number;
  /** g_0 (P), a fresh copy. */
  initial(): Float32Array;
  /** Starts a run: fresh optimisers and data order for peers 0 … h − 1, the same for every run of a seed. */
  reset(seed: number): void;
  /** Peer i's local steps from g, as the delta g − w_local (P). */
  localDelta(peer: number, g: Float32Array): Promise<Float32Array>;
  /**
   * One round of the centralized baseline: one optimiser (fresh at reset, kept across rounds) takes the
   * local steps of `peers` peers on their data, interleaved (step h of peer 0, of peer 1, …), from g; the
   * weights it reaches (P). The same data and tokens as a round of the swarm, without codec or merge.
   */
  centralRound(g: Float32Array, peers: number): Promise<Float32Array>;
  /** What the run reports: excess loss (synthetic) or held-out loss in nats per byte (Performer). */
  loss(g: Float32Array): Promise<number>;
}

export interface RunSpec {
  problem: Problem;
  /** The job: codec, merge rule, norm bound, outer step. */
  manifest: JobManifest;
  peers: number;
  byzantine: number;
  /** null: the f Byzantine identities send nothing (the clean run of the same honest peers). */
  attack: AttackName | null;
  rounds: number;
  seed: number;
  /**
   * Whether a peer's local steps overlap the close of the round its previous delta joined (client
   * rounds.ts), modelled at its most stale: the whole round's steps are taken before the merge they
   * follow is known, then carried onto it. 'none' (default): every round starts from the merged model.
   * 'from-local': they go on from the peer's own published weights (what the client does: the round
   * starts at g_{r−1} − Δ_{r−1}, its own last delta on top of the shared model it knew). 'from-shared':
   * they restart from the shared model the previous delta was computed against (g_{r−1}).
   */
  overlap?: Overlap;
}

export type Overlap = 'none' | 'from-local' | 'from-shared';

export interface RunResult {
  finalLoss: number;
  lossByRound: number[];
  /** g after the last round (P). */
  weights: Float32Array;
  /** Byzantine deltas the payload verdict refused. */
  rejected: number;
  /** Byzantine deltas the merge rule clipped (norm or coordinates), over all rounds. */
  clipped: number;
}

/** Deterministic uniform draws: the swarm bench's own seeded generator. */
export const seededRandom = rng;

interface Contribution {
  payloadSha256: string;
  held: HeldDelta;
  byzantine: boolean;
}

/** Encodes `tensors` as a payload and judges it as every peer would; null when refused. */
function judged(tensors: ReturnType<typeof encodeDelta>, manifest: JobManifest): Contribution | null {
  const payload = encodeDeltaPayload(tensors);
  const payloadSha256 = sha256Hex(payload);
  const v = checkPayload({ payloadSha256, codec: manifest.compression.codec }, payload, manifest);
  return v.action === 'accept' ? { payloadSha256, held: compactDelta(v.delta), byzantine: false } : null;
}

export async function simulate(spec: RunSpec): Promise<RunResult> {
  const { problem, manifest, peers, byzantine: f } = spec;
  const honestCount = peers - f;
  const compression = manifest.compression;
  problem.reset(spec.seed);
  const random = seededRandom(spec.seed * 7919 + 17);
  const encoders = Array.from(
    { length: honestCount },
    () => new ErrorFeedbackEncoder(problem.params, compression),
  );
  const g = problem.initial(); // [P] shared model
  const momentum = new Float32Array(problem.params); // [P]
  const bound = 0.99 * manifest.aggregation.normBound;
  const lossByRound: number[] = [];
  let rejected = 0;
  let clipped = 0;
  /** With overlap: the shared model before the last merge (P) and each peer's raw delta of it (h × P). */
  let previous: { g: Float32Array; raw: Float32Array[] } | null = null;
  const overlap = spec.overlap ?? 'none';
  const startOf = (i: number): Float32Array => {
    if (overlap === 'none' || previous === null) return g;
    const { g: before, raw } = previous;
    return overlap === 'from-shared' ? before : Float32Array.from(before, (x, j) => x - raw[i]![j]!);
  };
  for (let round = 0; round < spec.rounds; round++) {
    const honest: Contribution[] = [];
    const raw: Float32Array[] = [];
    for (let i = 0; i < honestCount; i++) {
      raw.push(await problem.localDelta(i, startOf(i)));
      const { tensors, commit } = encoders[i]!.encode(raw[i]!);
      commit();
      const c = judged(tensors, manifest);
      if (c) honest.push(c);
    }
    const byzantine: Contribution[] = [];
    if (spec.attack && f > 0) {
      const view = {
        honest: honest.map((c) => densify(c.held)),
        byzantine: f,
        peers,
        bound,
        random,
      };
      for (const v of craftAttack(spec.attack, view)) {
        const c = judged(encodeDelta(v, compression), manifest);
        if (c) byzantine.push({ ...c, byzantine: true });
        else rejected++;
      }
    }
    if (overlap !== 'none') previous = { g: Float32Array.from(g), raw };
    // Canonical merge order: payload digest (identical Byzantine deltas keep their multiplicity).
    const all = [...honest, ...byzantine].sort((a, b) => compareCodeUnits(a.payloadSha256, b.payloadSha256));
    const held = all.map((c) => c.held);
    // A round with no accepted delta does not close (minDeltas ≥ 1): the model stays.
    if (held.length === 0) {
      lossByRound.push(await problem.loss(g));
      continue;
    }
    clipped += countClipped(manifest, held, all);
    const agg = aggregate(manifest.aggregation, held, momentum, manifest.outer);
    nesterovStep(g, momentum, agg, manifest.outer);
    lossByRound.push(await problem.loss(g));
  }
  return { finalLoss: lossByRound.at(-1)!, lossByRound, weights: g, rejected, clipped };
}

/** Byzantine deltas the clipped rule shortened this round (0 for rules that do not clip). */
function countClipped(manifest: JobManifest, held: HeldDelta[], all: Contribution[]): number {
  const rule = manifest.aggregation;
  if (rule.rule !== 'clipped-trimmed-mean') return 0;
  const after = clipToRound(held, rule.normClip, rule.valueClip);
  let n = 0;
  all.forEach((c, j) => {
    if (c.byzantine && l2(values(after[j]!)) < l2(values(held[j]!)) * (1 - 1e-6)) n++;
  });
  return n;
}

function values(d: HeldDelta): Float32Array {
  return d instanceof Float32Array ? d : d.values;
}

export interface CentralizedResult {
  finalLoss: number;
  lossByRound: number[];
}

/** The centralized baseline of a clean run: the same rounds, peers and seed, one optimiser on all data. */
export async function simulateCentralized(
  spec: Pick<RunSpec, 'problem' | 'peers' | 'rounds' | 'seed'>,
): Promise<CentralizedResult> {
  const { problem } = spec;
  problem.reset(spec.seed);
  let g = problem.initial(); // [P]
  const lossByRound: number[] = [];
  for (let round = 0; round < spec.rounds; round++) {
    g = await problem.centralRound(g, spec.peers);
    lossByRound.push(await problem.loss(g));
  }
  return { finalLoss: lossByRound.at(-1)!, lossByRound };
}
