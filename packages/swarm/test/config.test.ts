import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePeerConfig } from '../src/peer-config.js';
import { InvalidIdentityFileError, InvalidPeerConfigError } from '../src/errors.js';
import { loadOrCreateIdentity } from '../src/identity.js';
import { chooseResyncTarget, type NeighbourView } from '../src/resync.js';

const dir = mkdtempSync(join(tmpdir(), 'swarm-identity-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('peer config', () => {
  it('fills defaults and rejects what does not parse', () => {
    const c = parsePeerConfig({ listen: ['/ip4/127.0.0.1/tcp/0'] });
    expect(c.identity).toEqual({ kind: 'ephemeral' });
    expect(c.gossip.D).toBe(6);
    expect(() => parsePeerConfig({ listen: ['not a multiaddr'] })).toThrow(InvalidPeerConfigError);
    expect(() => parsePeerConfig({ gossip: { D: 8, Dhi: 4 } })).toThrow(InvalidPeerConfigError);
    expect(() => parsePeerConfig({ surprise: true })).toThrow(InvalidPeerConfigError);
  });
});

describe('identity file', () => {
  it('is created once, atomically, and reloads as the same key', async () => {
    const path = join(dir, 'nested', 'peer.key');
    const first = await loadOrCreateIdentity(path);
    const again = await loadOrCreateIdentity(path);
    expect(again.equals(first)).toBe(true);
    expect(readdirSync(join(dir, 'nested'))).toEqual(['peer.key']); // no temp file left behind
  });

  it('refuses a file that is not a key', async () => {
    const path = join(dir, 'garbage.key');
    writeFileSync(path, 'hello');
    await expect(loadOrCreateIdentity(path)).rejects.toThrow(InvalidIdentityFileError);
  });
});

describe('resync rule', () => {
  const sha = (c: string) => c.repeat(64);
  /** Neighbours as [id, round, model hash, hash of their previous round's model?]. */
  const views = (entries: [string, number, string, string?][]) =>
    new Map<string, NeighbourView>(
      entries.map(([p, round, s, previous]) => [
        p,
        {
          round,
          modelSha256: s,
          pastModels: previous ? [{ round: round - 1, modelSha256: previous }] : [],
          at: 1000,
        },
      ]),
    );
  const base = {
    round: 5,
    modelSha256: sha('a'),
    pastModels: [{ round: 4, modelSha256: sha('e') }],
    now: 1000,
    freshMs: 500,
    roundAgeMs: 0,
    stuckAfterMs: 10_000,
  };

  it('follows a same-round majority of at least two, never a single dissenter', () => {
    expect(chooseResyncTarget({ ...base, views: views([['p', 5, sha('b')]]) })).toBeNull();
    const t = chooseResyncTarget({
      ...base,
      views: views([
        ['p', 5, sha('b')],
        ['q', 5, sha('b')],
        ['r', 5, sha('a')],
      ]),
    });
    expect(t).toBeNull(); // 2 against our 2 (r and us): no strict majority
    const u = chooseResyncTarget({
      ...base,
      views: views([
        ['p', 5, sha('b')],
        ['q', 5, sha('b')],
      ]),
    });
    expect(u).toMatchObject({ round: 5, modelSha256: sha('b'), reason: 'disagreement' });
  });

  it('sees a split history also a round behind or ahead of the others (through past models)', () => {
    // p and q are at round 6; their round-5 model was b, ours is a: adopt what they hold now.
    const split = views([
      ['p', 6, sha('c'), sha('b')],
      ['q', 6, sha('c'), sha('b')],
    ]);
    expect(chooseResyncTarget({ ...base, views: split })).toMatchObject({
      round: 6,
      modelSha256: sha('c'),
      peers: ['p', 'q'],
      reason: 'disagreement',
    });
    // Ahead by one on the same history: not a disagreement, and not yet behind.
    const same = views([
      ['p', 6, sha('c'), sha('a')],
      ['q', 6, sha('c'), sha('a')],
    ]);
    expect(chooseResyncTarget({ ...base, views: same })).toBeNull();
    // p and q are a round behind us and hold another round-4 model than ours (e): go back to theirs.
    const behindSplit = views([
      ['p', 4, sha('f')],
      ['q', 4, sha('f')],
      ['r', 5, sha('a')],
    ]);
    expect(chooseResyncTarget({ ...base, views: behindSplit })).toBeNull(); // 2 against our 2
    expect(
      chooseResyncTarget({ ...base, views: new Map([...behindSplit].filter(([p]) => p !== 'r')) }),
    ).toMatchObject({ round: 4, modelSha256: sha('f'), reason: 'disagreement' });
    // Behind us on our own history: in step.
    expect(
      chooseResyncTarget({
        ...base,
        views: views([
          ['p', 4, sha('e')],
          ['q', 4, sha('e')],
        ]),
      }),
    ).toBeNull();
  });

  it('catches up when most peers are ahead by two rounds, or ahead while our round is stuck', () => {
    const ahead = views([
      ['p', 7, sha('c')],
      ['q', 7, sha('c')],
      ['r', 6, sha('d')],
    ]);
    expect(chooseResyncTarget({ ...base, views: ahead })).toMatchObject({
      round: 7,
      modelSha256: sha('c'),
      reason: 'behind',
    });
    const justAhead = views([
      ['p', 6, sha('c')],
      ['q', 6, sha('c')],
    ]);
    expect(chooseResyncTarget({ ...base, views: justAhead })).toBeNull();
    expect(chooseResyncTarget({ ...base, roundAgeMs: 20_000, views: justAhead })).toMatchObject({
      round: 6,
      reason: 'behind',
    });
    expect(chooseResyncTarget({ ...base, now: 5000, views: ahead })).toBeNull(); // stale views do not count
  });
});
