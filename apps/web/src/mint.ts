/** Mints the tab's admission stamp in mint-worker.ts; aborting terminates the worker. */
import { AdmissionStamp, type MintOptions, type MintRequest } from '@slimswarm/protocol';
import { z } from 'zod';

const MintAnswer = z.union([
  z.object({ stamp: AdmissionStamp }).strict(),
  z.object({ error: z.string() }).strict(),
]);

export function mintInWorker(
  jobId: string,
  peerId: string,
  difficultyBits: number,
  opts: MintOptions = {},
): Promise<AdmissionStamp> {
  const worker = new Worker(new URL('./mint-worker.ts', import.meta.url), { type: 'module', name: 'mint' });
  return new Promise<AdmissionStamp>((resolve, reject) => {
    const done = () => {
      worker.terminate();
      opts.signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      done();
      reject(opts.signal?.reason as Error);
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    worker.onmessage = (e: MessageEvent<unknown>) => {
      done();
      const answer = MintAnswer.parse(e.data);
      if ('stamp' in answer) resolve(answer.stamp);
      else reject(new Error(`minting failed: ${answer.error}`));
    };
    worker.onerror = (e) => {
      done();
      reject(new Error(`the mint worker failed: ${e.message}`));
    };
    worker.postMessage({ jobId, peerId, difficultyBits } satisfies MintRequest);
  });
}
