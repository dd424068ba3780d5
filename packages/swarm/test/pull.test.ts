import {
  decodeFrame,
  encodeFrame,
  tensorFromTyped,
  topics,
  type DeltaAnnouncement,
} from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import { AntiEntropy } from '../src/anti-entropy.js';
import type { RoundState } from '../src/round-state.js';
import { FakeHub, type FakeNetwork } from './fake-network.js';
import { refsFrame, summaryOf } from './hand-anti-entropy.js';
import { admissionOf, identities, signedBy, stampFor } from './identities.js';
import { deltaOf, smallJob } from './parts.fixture.js';

/** An anti-entropy part over `net` for `state`, offering pulled deltas to it as the replica does. */
function antiEntropy(net: FakeNetwork, state: RoundState) {
  const self = { id: net.selfId, sign: net.signDelta };
  const ae = new AntiEntropy(net, state.manifest, admissionOf(state.manifest, self), {
    rounds: () => state,
    offer: (frame, author) => state.offer(frame, author, Date.now()),
  });
  ae.start();
  return ae;
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error('condition not reached');
}

describe('anti-entropy (no libp2p)', () => {
  it('a summary naming a delta this peer lacks makes it pull the delta, judged under its author', async () => {
    const [a, b, author] = await identities(3);
    const { state } = smallJob();
    const hub = new FakeHub();
    const [sa, sb] = [state(), state()];
    const aeA = antiEntropy(hub.join(a!), sa);
    const netB = hub.join(b!);
    const aeB = antiEntropy(netB, sb);
    const d = deltaOf(sa, author!).delta;
    sa.addOwn(d, 0); // a holds author's delta (as if gossiped to it); b missed it
    await aeA.publish();
    await hub.settled();
    aeB.reconcile(); // a's digest for round 0 differs from b's: b asks a for its refs, then pulls
    await until(() => sb.has(author!.id, 0));
    expect(sb.get({ round: 0, peer: author!.id, payloadSha256: d.payloadSha256 })?.payload).toEqual(
      d.payload,
    );
    expect(aeB.views.get(a!.id)).toMatchObject({ round: 0, modelSha256: sa.modelSha256 });
    expect(netB.counters.snapshot().rejected['bad-signature']).toBe(0);
  });

  it('a responder that forges a delta in an honest author’s name is blamed, and nothing is taken', async () => {
    const [victim, liar, mallory] = await identities(3);
    const { manifest, state } = smallJob();
    const hub = new FakeHub();
    const honest = state();
    const netV = hub.join(victim!);
    const aeV = antiEntropy(netV, honest);
    const netL = hub.join(liar!);
    // The liar lists a delta "by" mallory but serves one mallory never signed.
    const real = deltaOf(state(), mallory!).delta;
    const ref = { round: 0, peer: mallory!.id, payloadSha256: real.payloadSha256 };
    const forged = { ...real.header, stats: { ...real.header.stats, tokens: 999 } };
    /** The liar's side: its ref list names `ref`; a pull is answered with `header` over mallory's payload. */
    const serveAs = (header: object) =>
      netL.serve('antiEntropy', async (stream) => {
        const request = decodeFrame((await stream.read(AbortSignal.timeout(1000)))!, { maxBytes: 1 << 20 });
        const frame =
          request.message.type === 'delta-refs-request'
            ? refsFrame(manifest.jobId, [ref])
            : encodeFrame(header as DeltaAnnouncement, {
                part: tensorFromTyped('u8', [real.payload.length], real.payload),
              });
        await stream.write(frame, AbortSignal.timeout(1000));
        await stream.close(AbortSignal.timeout(1000));
      });
    serveAs(forged);
    const summary = summaryOf(
      {
        jobId: manifest.jobId,
        round: 0,
        modelSha256: honest.modelSha256,
        admission: stampFor(manifest, liar!.id),
      },
      [ref],
    );
    netV.receive(topics.summaries(manifest.jobId), liar!.id, summary);
    aeV.reconcile();
    await until(() => netV.counters.snapshot().rejected['bad-signature'] === 1);
    expect(honest.has(mallory!.id, 0)).toBe(false);
    const blamed: string[] = [];
    netV.events.on('delta:rejected', (e) => blamed.push(e.peer));
    // Signed by mallory after all: now it is taken.
    serveAs(signedBy(mallory!, forged));
    // (The liar rests after its failed pull; the test asks it again at once.)
    await aeV.fetchRefs(liar!.id, [0]);
    await until(() => honest.has(mallory!.id, 0));
    expect(blamed).toEqual([]);
  });
});
