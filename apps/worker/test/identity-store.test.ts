import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filePins, fileStamps } from '../src/identity-store.js';

describe('what the worker keeps beside its identity', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slimswarm-identity-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('pins job keys per coordinator and keeps the stamp, owner-only, and refuses a corrupt file', async () => {
    const pins = filePins(dir);
    expect(await pins.get('http://a')).toBeNull();
    await pins.set('http://a', 'ab'.repeat(32));
    await pins.set('http://b', 'cd'.repeat(32));
    expect(await filePins(dir).get('http://a')).toBe('ab'.repeat(32));
    expect((await stat(join(dir, 'job-keys.json'))).mode & 0o777).toBe(0o600);

    const stamps = fileStamps(dir);
    expect(await stamps.load()).toBeNull();
    const stored = {
      jobId: 'job-0123456789ab',
      peerId: '12D3KooWA',
      stamp: { kind: 'pow', nonce: '00'.repeat(8) },
    } as const;
    await stamps.save(stored);
    expect(await fileStamps(dir).load()).toEqual(stored);
    expect(JSON.parse(await readFile(join(dir, 'admission.json'), 'utf8'))).toEqual(stored);

    await writeFile(join(dir, 'admission.json'), '{"jobId": 1}');
    await expect(stamps.load()).rejects.toMatchObject({ name: 'IncompatibleCheckpointError' });
  });
});
