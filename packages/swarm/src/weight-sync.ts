/**
 * Weight sync: a peer that joins late, or finds its model out of step with its neighbours', fetches the
 * whole model state (weights, outer momentum, round, past models' hashes) from one of them over a stream.
 * What arrives is checked by `verifyModelState` (a pure function) before anything is adopted.
 */
import type { Logger } from '@libp2p/interface';
import {
  PROTOCOL_LIMITS,
  PROTOCOL_VERSION,
  encodeFrame,
  tensorFromTyped,
  type DecodedFrame,
  type JobManifest,
} from '@slimswarm/protocol';
import { decodeJobFrame, singleU8 } from './delta-verdict.js';
import { NoSyncSourceError, WeightSyncError } from './errors.js';
import { readRequest } from './frame-stream.js';
import type { ModelLayout } from './model-layout.js';
import type { FrameStream, SwarmNetwork } from './network.js';
import { mostAnnounced, type NeighbourView } from './resync.js';
import type { RoundState } from './round-state.js';
import { decodeModelState, encodeModelState, modelSha256, type ModelState } from './wire.js';

/**
 * Checks a weight-sync response: `asked` is the model hash requested (null: whatever the peer holds),
 * `layout` the model's layout when this peer knows it already. Throws WeightSyncError.
 */
export function verifyModelState(
  response: DecodedFrame,
  asked: string | null,
  manifest: JobManifest,
  layout?: ModelLayout,
): ModelState & { modelSha256: string } {
  const m = response.message;
  const body = singleU8(response.tensors, 'state');
  if (m.type !== 'weight-sync-response' || !body) throw new WeightSyncError('not a weight-sync response');
  if (m.status !== 'ok' || m.modelSha256 === null) throw new WeightSyncError(`peer answered ${m.status}`);
  if (asked !== null && m.modelSha256 !== asked)
    throw new WeightSyncError('peer sent another model than asked for');
  if (body.length !== m.payloadBytes)
    throw new WeightSyncError('weight-sync body length differs from its header');
  let state: ModelState;
  try {
    state = decodeModelState(body, PROTOCOL_LIMITS.maxStreamFrameBytes, layout);
  } catch (err) {
    throw new WeightSyncError(`weight-sync body does not decode: ${(err as Error).message}`);
  }
  if (state.layout.size !== manifest.baseCheckpoint.params) {
    throw new WeightSyncError(
      `synced model has ${state.layout.size} parameters, the manifest says ${manifest.baseCheckpoint.params}`,
    );
  }
  const got = modelSha256(state.layout, state.weights);
  if (got !== m.modelSha256)
    throw new WeightSyncError(`synced weights hash to ${got}, header says ${m.modelSha256}`);
  if (state.round !== m.round) throw new WeightSyncError('synced round differs from its header');
  return { ...state, modelSha256: got };
}

/** Fetches model `asked` (null: whatever it holds) from `peer`. */
export async function fetchModelState(
  net: SwarmNetwork,
  peer: string,
  asked: string | null,
  manifest: JobManifest,
  layout?: ModelLayout,
): Promise<ModelState & { modelSha256: string }> {
  const signal = AbortSignal.timeout(net.timings.streamTimeoutMs);
  const stream = await net.dial(peer, 'weightSync', signal);
  await stream.write(
    encodeFrame({
      type: 'weight-sync-request',
      version: PROTOCOL_VERSION,
      jobId: manifest.jobId,
      modelSha256: asked,
    }),
    signal,
  );
  const bytes = await stream.read(signal);
  await stream.close(signal);
  if (!bytes) throw new WeightSyncError('peer closed the stream without an answer');
  const decoded = decodeJobFrame(
    bytes,
    manifest,
    'weight-sync-response',
    PROTOCOL_LIMITS.maxStreamFrameBytes,
  );
  if (!('frame' in decoded)) throw new WeightSyncError(`weight-sync response refused: ${decoded.reason}`);
  return verifyModelState(decoded.frame, asked, manifest, layout);
}

/**
 * Fetches model `asked` from the first of `peers` (connected ones only) that serves it. Throws the last
 * failure, or NoSyncSourceError when none of them is connected.
 */
export async function fetchFromFirst(
  net: SwarmNetwork,
  peers: readonly string[],
  asked: string | null,
  manifest: JobManifest,
  layout?: ModelLayout,
  log?: Logger,
): Promise<{ state: ModelState & { modelSha256: string }; from: string }> {
  const connected = new Set(net.connectedPeers());
  let lastError: unknown = new NoSyncSourceError('no connected peer holds the model');
  for (const from of peers) {
    if (!connected.has(from)) continue;
    try {
      return { state: await fetchModelState(net, from, asked, manifest, layout), from };
    } catch (err) {
      lastError = err;
      log?.error('weight sync from %s failed: %e', from, err);
    }
  }
  throw lastError;
}

/**
 * Answers weight-sync requests from `source()`: the model asked for (or the current one), or not-found
 * while this peer has none or holds another.
 */
export function serveWeightSync(
  net: SwarmNetwork,
  manifest: JobManifest,
  source: () => RoundState | null,
  log?: Logger,
): (stream: FrameStream, remote: string) => Promise<void> {
  return async (stream, remote) => {
    const signal = AbortSignal.timeout(net.timings.streamTimeoutMs);
    const request = await readRequest(stream, manifest, 'weight-sync-request', signal);
    const s = source();
    const ok = s !== null && (request.modelSha256 === null || request.modelSha256 === s.modelSha256);
    const body = ok
      ? encodeModelState(s.layout, {
          weights: s.weights,
          momentum: s.momentum,
          round: s.round,
          pastModels: s.pastModels,
        })
      : new Uint8Array(0);
    log?.('weight sync for %s: %s', remote, ok ? 'ok' : 'not-found');
    await stream.write(
      encodeFrame(
        {
          type: 'weight-sync-response',
          version: PROTOCOL_VERSION,
          jobId: manifest.jobId,
          status: ok ? 'ok' : 'not-found',
          round: ok ? s.round : 0,
          modelSha256: ok ? s.modelSha256 : null,
          payloadBytes: body.length,
        },
        { state: tensorFromTyped('u8', [body.length], body) },
      ),
      signal,
    );
    await stream.close(signal);
  };
}

export interface JoinOptions {
  timeoutMs: number;
  /** How often to look at the views again. */
  pollMs: number;
  /** Fetches and adopts model `sha` from the first of `peers` that serves it. */
  sync(peers: readonly string[], sha: string): Promise<void>;
  signal?: AbortSignal;
}

/**
 * A late joiner's sync: as soon as neighbours have announced models, fetch the one most of them hold.
 * Throws NoSyncSourceError when nobody announced one in time, or the last sync failure when some did and
 * none could serve it.
 */
export async function syncOnJoin(
  views: ReadonlyMap<string, NeighbourView>,
  opts: JoinOptions,
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError: unknown = new NoSyncSourceError(`no peer announced a model within ${opts.timeoutMs} ms`);
  while (Date.now() < deadline) {
    opts.signal?.throwIfAborted();
    if (views.size > 0) {
      const best = mostAnnounced([...views]);
      try {
        await opts.sync(best.peers, best.modelSha256);
        return;
      } catch (err) {
        lastError = err;
      }
    }
    await new Promise((r) => setTimeout(r, Math.min(opts.pollMs, Math.max(1, deadline - Date.now()))));
  }
  throw lastError;
}
