import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BASE_PATH } from '@slimswarm/default-job/job';
import { privateDeltaNormBound, trainableParamCount, verifySignedJob } from '@slimswarm/protocol';
import { ephemeralJobKey } from '../src/job-key.js';
import { InvalidOptionError, parseCoordinatorArgs, privacyOf } from '../src/options.js';
import { withPrivacy } from '../src/private-job.js';
import { InvalidManifestError, loadJob } from '../src/published-job.js';

const DP = ['--dp-noise', '1.1', '--dp-clip', '0.5', '--dp-delta', '1e-6'];
const PRIVACY = { mechanism: 'gaussian', noiseMultiplier: 1.1, clipNorm: 0.5, delta: 1e-6 } as const;

describe('the --dp-* flags', () => {
  it('give the job privacy when all three are given, and none without them', () => {
    expect(privacyOf(parseCoordinatorArgs(DP))).toEqual(PRIVACY);
    expect(privacyOf(parseCoordinatorArgs([]))).toBeUndefined();
  });

  it('are refused alone or out of range, naming the flag', () => {
    expect(() => parseCoordinatorArgs(['--dp-noise', '1'])).toThrow(/--dp-noise: .*go together/);
    expect(() => parseCoordinatorArgs(DP.slice(0, 4))).toThrow(InvalidOptionError);
    const swap = (flag: string, value: string) => DP.map((v, i) => (DP[i - 1] === flag ? value : v));
    expect(() => parseCoordinatorArgs(swap('--dp-noise', '-1'))).toThrow(/--dp-noise/);
    expect(() => parseCoordinatorArgs(swap('--dp-noise', 'lots'))).toThrow(/--dp-noise/);
    expect(() => parseCoordinatorArgs(swap('--dp-clip', '0'))).toThrow(/--dp-clip/);
    expect(() => parseCoordinatorArgs(swap('--dp-delta', '0.5'))).toThrow(/--dp-delta/);
  });
});

describe('a private job', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slimswarm-private-job-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  const key = ephemeralJobKey();

  it('is the default job with privacy, error feedback off and the norm bound raised, signed', async () => {
    const plain = (await loadJob({ basePath: DEFAULT_BASE_PATH, key })).manifest;
    const job = await loadJob({ basePath: DEFAULT_BASE_PATH, key, privacy: PRIVACY });
    const needed = privateDeltaNormBound(PRIVACY, trainableParamCount(plain));
    expect(needed).toBeGreaterThan(plain.aggregation.normBound);
    expect(job.manifest).toEqual({
      ...plain,
      privacy: PRIVACY,
      compression: { ...plain.compression, errorFeedback: false },
      aggregation: { ...plain.aggregation, normBound: needed },
    });
    expect(verifySignedJob(job.signed, { pinnedKey: key.publicKey })).toEqual(job.manifest);
  });

  it('keeps a norm bound that is already high enough', async () => {
    const plain = (await loadJob({ basePath: DEFAULT_BASE_PATH, key })).manifest;
    const high = { ...plain, aggregation: { ...plain.aggregation, normBound: 1e9 } };
    expect(withPrivacy(high, PRIVACY).aggregation.normBound).toBe(1e9);
  });

  it('from a manifest file whose norm bound would refuse its own noised deltas is refused', async () => {
    const plain = (await loadJob({ basePath: DEFAULT_BASE_PATH, key })).manifest;
    const manifestPath = join(dir, 'private.json');
    const tooLow = {
      ...plain,
      privacy: PRIVACY,
      compression: { ...plain.compression, errorFeedback: false },
    };
    await writeFile(manifestPath, JSON.stringify(tooLow));
    await expect(loadJob({ basePath: DEFAULT_BASE_PATH, manifestPath, key })).rejects.toThrow(
      InvalidManifestError,
    );
    // A valid file without privacy is made private by the flags.
    await writeFile(manifestPath, JSON.stringify(plain));
    const job = await loadJob({ basePath: DEFAULT_BASE_PATH, manifestPath, key, privacy: PRIVACY });
    expect(job.manifest.privacy).toEqual(PRIVACY);
    expect(job.manifest.aggregation.normBound).toBe(
      privateDeltaNormBound(PRIVACY, trainableParamCount(plain)),
    );
  });
});
