/** What the volunteer loop is given and what it hands back (volunteer.ts). */
import type { AdmissionStamp, JobManifest } from '@slimswarm/protocol';
import type { GradientEngine } from '@slimswarm/performer';
import type { ReplicaSnapshot, SwarmPeer } from '@slimswarm/swarm';
import type { VolunteerEvent } from './events.js';
import type { VolunteerStore } from './store.js';

/**
 * Held-out scoring is a forward pass over as many tokens as it is given (the worker's 24 sequences are
 * about six local rounds of training for the default job's 4 steps): done every round it would keep the
 * engine from training a third of the time or more, and keep every other peer waiting for this one.
 */
export const DEFAULT_EVAL_EVERY = 5;

/**
 * Local steps a volunteer takes while its last delta's round is still open. They hide the close (gossip,
 * the merge) behind compute, but each is computed on a model older than the one its delta is based on.
 * Measured on the default job (docs/benchmarks.md, "The swarm's own efficiency"): unbounded overlap bought
 * 3 % of throughput for 5 % worse held-out bits/byte, because a peer waiting for a slow one trains whole
 * rounds stale. A bound of one step is not measured yet, so the default waits.
 */
export const DEFAULT_OVERLAP_STEPS = 0;

export interface VolunteerOptions {
  manifest: JobManifest;
  /** A started swarm peer (createNodePeer / createBrowserPeer), connected to the job's bootstrap peers. */
  peer: SwarmPeer;
  engine: GradientEngine;
  /** This peer's admission stamp for the job (obtainStamp); minted by the replica when omitted. */
  admission?: AdmissionStamp;
  /** Shown in the 'ready' event (e.g. "slim-ort wasm ×2"). */
  engineName: string;
  /** The base checkpoint as published (weights-only canonical safetensors, hash checked by fetchBase). */
  base: Uint8Array;
  /** Endless training sequences of L + 1 token ids from local data. */
  sequences: AsyncIterator<Int32Array>;
  /**
   * Held-out sequences; when given, the shared model is evaluated on them at the start, every
   * `evalEvery` rounds and after the last round.
   */
  heldOut?: readonly Int32Array[];
  /** Rounds between evaluations (default DEFAULT_EVAL_EVERY): scoring takes the engine from training. */
  evalEvery?: number;
  /** Steps that may overlap a round's close (default DEFAULT_OVERLAP_STEPS; 0: wait for every close). */
  overlapSteps?: number;
  store?: VolunteerStore;
  /** Stop after this many closed rounds (default: until aborted). */
  rounds?: number;
  /** Abort to stop: the current step finishes, the state is saved, the loop returns. */
  signal?: AbortSignal;
  /** Lets the volunteer pause between steps; the swarm is told, so nobody waits for this peer. */
  pause?: PauseGate;
  emit: (event: VolunteerEvent) => void;
  /** Memory in use, for progress (Node: RSS; browser: what the page can tell). */
  memoryBytes?: () => number;
  /**
   * How long to wait for a peer to announce the model before starting from the base (default 8 000 ms):
   * the first peers of a job find nobody ahead of them.
   */
  joinTimeoutMs?: number;
  /**
   * Told how to read the shared model this volunteer holds (round, hash, a copy of the weights) once it
   * has joined, and `null` when it stops holding one: for using the model while training (the tab's
   * "Try the shared model").
   */
  onSharedModel?: (current: (() => ReplicaSnapshot) | null) => void;
}

export interface PauseGate {
  readonly paused: boolean;
  /** Resolves when training may go on (at once when not paused). */
  wait(): Promise<void>;
}

export interface VolunteerSummary {
  rounds: number;
  steps: number;
  tokens: number;
  modelSha256: string;
  heldOutLoss: number | null;
}
