import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { hfFixture, writeHfFixture } from '../src/fixtures.js';
import { tempDirs } from './helpers.js';

const tempDir = tempDirs();
const MiB = 1 << 20;

describe('memory', () => {
  it('an import holds one fp32 copy of the weights, not the file as well', async () => {
    // 14 M parameters, 57 MB in F32: a file read whole would add as much again.
    const fx = hfFixture('llama', {
      config: {
        hidden_size: 512,
        num_attention_heads: 8,
        num_key_value_heads: 4,
        head_dim: 64,
        intermediate_size: 1376,
        vocab_size: 8192,
      },
    });
    const dir = await tempDir();
    await writeHfFixture(dir, fx);
    const fileBytes = (await stat(join(dir, 'model.safetensors'))).size;
    const probe = new URL('./memory-probe.ts', import.meta.url).pathname;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--expose-gc',
        '--max-semi-space-size=1',
        '--conditions=@slimswarm/source',
        '--import',
        'tsx',
        probe,
        dir,
      ],
      {
        cwd: join(import.meta.dirname, '..'),
      },
    );
    const m = JSON.parse(stdout) as {
      fp32Bytes: number;
      peakGrowth: number;
      retained: number;
      seconds: number;
    };
    console.log(
      `import of ${(fileBytes / MiB).toFixed(1)} MiB: fp32 weights ${(m.fp32Bytes / MiB).toFixed(1)} MiB, ` +
        `peak growth ${(m.peakGrowth / MiB).toFixed(1)} MiB, retained ${(m.retained / MiB).toFixed(1)} MiB, ${m.seconds.toFixed(2)} s`,
    );
    expect(m.fp32Bytes).toBeGreaterThan(0.95 * fileBytes);
    // The measurement sees the weights it keeps…
    expect(m.retained).toBeGreaterThan(0.95 * m.fp32Bytes);
    // …and nothing near a second copy at any time: the scratch buffer and small change only.
    expect(m.peakGrowth).toBeLessThan(m.fp32Bytes + 8 * MiB);
  });
});
