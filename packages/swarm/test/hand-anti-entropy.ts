/**
 * The anti-entropy protocol spoken by hand, for tests in which a remote peer lies: a summary whose digests
 * describe refs the test chooses, and a stream handler for a bare libp2p node that answers ref-list
 * requests with those refs and pulls as the test says.
 */
import type { Stream } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import {
  PROTOCOL_IDS,
  PROTOCOL_VERSION,
  decodeFrame,
  encodeFrame,
  heldRounds,
  sortRefs,
  type AdmissionStamp,
  type DeltaPullRequest,
  type DeltaRef,
  type DeltaRefsRequest,
} from '@slimswarm/protocol';

/** A summary at `round` whose `held` digests are those of `refs` (as an honest holder of them would send). */
export function summaryOf(
  o: { jobId: string; round: number; modelSha256: string; admission: AdmissionStamp },
  refs: DeltaRef[],
): Uint8Array {
  return encodeFrame({
    type: 'anti-entropy-summary',
    version: PROTOCOL_VERSION,
    ...o,
    pastModels: [],
    held: heldRounds(o.round, refs),
  });
}

/** A delta-refs answer listing `refs` (sorted, as the schema wants). */
export function refsFrame(jobId: string, refs: DeltaRef[]): Uint8Array {
  return encodeFrame({ type: 'delta-refs', version: PROTOCOL_VERSION, jobId, refs: sortRefs(refs) });
}

type Lp = ReturnType<typeof lpStream>;

/**
 * Serves the anti-entropy protocol on `node`: a ref-list request is passed to `onRefs` (default: answer
 * with `refs` and close), a pull to `onPull`.
 */
export async function handAntiEntropy(
  node: { handle(protocol: string, handler: (stream: Stream) => void | Promise<void>): Promise<void> },
  jobId: string,
  o: {
    refs?: DeltaRef[];
    onRefs?: (request: DeltaRefsRequest, lp: Lp, stream: Stream) => Promise<void>;
    onPull?: (request: DeltaPullRequest, lp: Lp, stream: Stream) => Promise<void>;
  },
): Promise<void> {
  await node.handle(PROTOCOL_IDS.antiEntropy, async (stream) => {
    const lp = lpStream(stream);
    const request = decodeFrame((await lp.read()).subarray(), { maxBytes: 1 << 20 }).message;
    if (request.type === 'delta-refs-request') {
      if (o.onRefs) return o.onRefs(request, lp, stream);
      await lp.write(refsFrame(jobId, o.refs ?? []));
      await stream.close();
    } else if (request.type === 'delta-pull' && o.onPull) await o.onPull(request, lp, stream);
    else stream.abort(new Error(`not served here: ${request.type}`));
  });
}
