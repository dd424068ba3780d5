/**
 * A dedicated worker that mints the tab's admission stamp (protocol `mintStamp`: 2^difficultyBits
 * SHA-256 hashes, a few seconds). Off the page's thread, so the UI and the libp2p peer stay responsive;
 * separate from the compute worker, whose engine may still be loading. One request, one answer.
 */
// First: zod must not compile schemas with `new Function` under the coordinator's CSP.
import '@slimswarm/protocol/jitless';
import { MintRequest, mintStamp } from '@slimswarm/protocol';

interface WorkerScope {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (e: MessageEvent<unknown>) => void): void;
}
const scope = self as unknown as WorkerScope;

scope.addEventListener('message', (e) => {
  const request = MintRequest.parse(e.data);
  mintStamp(request.jobId, request.peerId, request.difficultyBits).then(
    (stamp) => scope.postMessage({ stamp }),
    (err: unknown) => scope.postMessage({ error: String(err) }),
  );
});
