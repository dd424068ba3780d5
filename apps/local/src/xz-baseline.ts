/**
 * What a general-purpose compressor makes of the held-out text: the floor a language model trained on
 * this little text should at least approach. `xz -9e` on the held-out text alone, and "primed" — the
 * held-out text's share of xz on the training shards followed by it (xz of both minus xz of the shards
 * alone), i.e. xz with the same training text the models saw.
 */
import { spawn } from 'node:child_process';
import { compressedBitsPerByte } from './bits-per-byte.js';

/** The xz binary is not on PATH. */
export class XzMissingError extends Error {
  static override name = 'XzMissingError';
  override name = 'XzMissingError';
}

/** xz ran but failed (non-zero exit or killed). */
export class XzFailedError extends Error {
  static override name = 'XzFailedError';
  override name = 'XzFailedError';
}

/**
 * One preset for every figure, so alone and primed compare. -T1: one block, whatever the xz version's
 * threading default — a multi-threaded xz splits its input into blocks and the held-out text would no
 * longer see the shards before it.
 */
export const XZ_FLAGS = ['-9e', '-T1', '--format=xz', '--stdout'] as const;

/** Bytes of `xz -9e` output for `parts` concatenated, fed on stdin (nothing is written to disk). */
export async function xzCompressedBytes(parts: readonly Uint8Array[], xz = 'xz'): Promise<number> {
  const child = spawn(xz, XZ_FLAGS, { stdio: ['pipe', 'pipe', 'pipe'] });
  let compressed = 0;
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (compressed += chunk.length));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'ENOENT'
          ? new XzMissingError(`${xz} not found: install xz-utils for the compressor baselines`)
          : new XzFailedError(`cannot run ${xz}: ${e.message}`),
      ),
    );
    child.once('close', (code, signal) =>
      code === 0
        ? resolve(compressed)
        : reject(new XzFailedError(`${xz} exited with ${code ?? signal}: ${stderr.trim()}`)),
    );
  });
  // A failed spawn closes stdin under us: its EPIPE is the same failure `exited` reports.
  child.stdin.on('error', () => {});
  for (const part of parts) {
    // A dead xz never drains: `exited` rejects instead.
    if (!child.stdin.write(part))
      await Promise.race([new Promise((resolve) => child.stdin.once('drain', resolve)), exited]);
  }
  child.stdin.end();
  return exited;
}

export interface XzBaseline {
  /** xz on the held-out text alone, bits per held-out byte. */
  xz: number;
  /** (xz(training + held-out) − xz(training)) per held-out byte. */
  xzPrimed: number;
}

export async function xzBaseline(
  text: { training: readonly Uint8Array[]; heldOut: Uint8Array },
  xz?: string,
): Promise<XzBaseline> {
  const heldOutBytes = text.heldOut.byteLength;
  const alone = await xzCompressedBytes([text.heldOut], xz);
  const training = await xzCompressedBytes(text.training, xz);
  const both = await xzCompressedBytes([...text.training, text.heldOut], xz);
  return {
    xz: compressedBitsPerByte(alone, heldOutBytes),
    xzPrimed: compressedBitsPerByte(both - training, heldOutBytes),
  };
}
