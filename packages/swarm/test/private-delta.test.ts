import { JobManifest, privateDeltaNormBound, type CodecId, type PrivacyConfig } from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import { densify } from '../src/aggregate.js';
import { ErrorFeedbackEncoder, topkCount, topkIndices } from '../src/codec.js';
import { makeContribution } from '../src/contribution.js';
import { l2Norm } from '../src/model-layout.js';
import { cryptoNormals, privatizeDelta, type NormalSource } from '../src/private-delta.js';
import { RoundState } from '../src/round-state.js';
import { deltaFrame, identities, stampFor } from './identities.js';
import { smallJob } from './parts.fixture.js';

const PRIVACY: PrivacyConfig = { mechanism: 'gaussian', clipNorm: 0.5, noiseMultiplier: 1.5, delta: 1e-6 };
const [ME, PEER] = await identities(2);

const zeros: NormalSource = (out) => out.fill(0);

/** A seeded normal source (the noise's values, not its secrecy, matter to these tests). */
function seededNormals(seed: number): NormalSource {
  let s = seed >>> 0;
  const uniform = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 1) / 2 ** 32;
  };
  return (out) => {
    for (let i = 0; i < out.length; i++)
      out[i] = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  };
}

describe('privatizeDelta', () => {
  it('clips a long delta to norm C and leaves a short one as it is', () => {
    const long = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i));
    expect(l2Norm(long)).toBeGreaterThan(10);
    const clipped = privatizeDelta(Float32Array.from(long), PRIVACY, zeros);
    expect(l2Norm(clipped)).toBeCloseTo(PRIVACY.clipNorm, 5);
    // Scaled, not truncated: the direction stays.
    const ratio = clipped[3]! / long[3]!;
    for (let i = 0; i < 10; i++) expect(clipped[i]!).toBeCloseTo(long[i]! * ratio, 6);

    const short = Float32Array.from({ length: 1000 }, () => 0.001);
    expect(privatizeDelta(Float32Array.from(short), PRIVACY, zeros)).toEqual(short);
  });

  it('adds noise of standard deviation zC from the CSPRNG (fixed statistical bounds)', () => {
    const n = 200_000;
    const out = privatizeDelta(new Float32Array(n), PRIVACY, cryptoNormals);
    const sigma = PRIVACY.noiseMultiplier * PRIVACY.clipNorm;
    let sum = 0;
    let sq = 0;
    let within = 0;
    for (const x of out) {
      sum += x;
      sq += x * x;
      if (Math.abs(x) <= sigma) within++;
    }
    const mean = sum / n;
    // Standard errors at n = 2·10⁵: mean σ/√n ≈ 0.0022σ, variance ratio √(2/n) ≈ 0.0032, the 1σ
    // fraction √(p(1 − p)/n) ≈ 0.001. Bounds at 6 standard errors: a false failure is below 1e-8.
    expect(Math.abs(mean)).toBeLessThan(0.014 * sigma);
    expect(Math.abs(sq / n / (sigma * sigma) - 1)).toBeLessThan(0.02);
    expect(Math.abs(within / n - 0.682689)).toBeLessThan(0.0063);
  });

  it('draws fresh noise on every call', () => {
    const a = privatizeDelta(new Float32Array(64), PRIVACY);
    const b = privatizeDelta(new Float32Array(64), PRIVACY);
    expect(a).not.toEqual(b);
  });
});

/** Records every vector handed to the codec. */
class RecordingEncoder extends ErrorFeedbackEncoder {
  readonly seen: Float32Array[] = [];
  override encode(delta: Float32Array) {
    this.seen.push(Float32Array.from(delta));
    return super.encode(delta);
  }
}

/** One signed contribution of `who` (its identity's key and stamp) to `state`'s open round. */
function contribute(
  state: RoundState,
  who: typeof ME,
  opts: Pick<Parameters<typeof makeContribution>[1], 'encoder' | 'localWeights' | 'stats' | 'normals'>,
) {
  return makeContribution(state, {
    ...opts,
    peer: who!.id,
    maxPartBytes: 1 << 20,
    sign: who!.sign,
    admission: stampFor(state.manifest, who!.id),
  });
}

function privateJob() {
  const job = smallJob({ codec: 'topk-int8', topkFraction: 0.05, errorFeedback: false }, 4096);
  const manifest = JobManifest.parse({ ...job.manifest, privacy: PRIVACY });
  return { ...job, manifest };
}

describe('a private contribution', () => {
  it('hands top-k only the clipped and noised delta', () => {
    const { manifest, layout, w0 } = privateJob();
    const state = new RoundState({ manifest, layout, weights: w0 });
    const encoder = new RecordingEncoder(layout.size, manifest.compression);
    // A local step with a sparse, recognisable shape: 10 large coordinates.
    const local = Float32Array.from(w0, (w, i) => (i % 400 === 0 ? w - 5 : w));
    const raw = Float32Array.from(w0, (w, i) => w - local[i]!);
    const { delta } = contribute(state, ME, {
      encoder,
      localWeights: local,
      stats: { tokens: 1, steps: 1, meanLoss: 2.5 },
      normals: seededNormals(42),
    });
    expect(encoder.seen).toHaveLength(1);
    // The mean loss (of the volunteer's text, not noised) does not go out.
    expect(delta.header.stats).toEqual({ tokens: 1, steps: 1, meanLoss: 0 });
    const expected = privatizeDelta(Float32Array.from(raw), PRIVACY, seededNormals(42));
    expect(encoder.seen[0]).toEqual(expected);
    expect(encoder.seen[0]).not.toEqual(raw);
    // What goes out is top-k of the noised vector: its coordinates, and their values (int8-rounded).
    const sent = densify(delta.delta);
    const kept = topkIndices(expected, topkCount(expected.length, manifest.compression.topkFraction));
    expect(Array.from(sent).flatMap((v, i) => (v === 0 ? [] : [i]))).toEqual(Array.from(kept));
    for (const i of kept) expect(Math.abs(sent[i]! - expected[i]!)).toBeLessThan(0.02);
  });

  it('draws new noise each time: the same local step twice gives two different deltas', () => {
    const { manifest, layout, w0 } = privateJob();
    const local = Float32Array.from(w0, (w) => w - 0.01);
    const payloads = [0, 1].map(() => {
      const state = new RoundState({ manifest, layout, weights: w0 });
      return contribute(state, ME, {
        encoder: new ErrorFeedbackEncoder(layout.size, manifest.compression),
        localWeights: local,
        stats: { tokens: 1, steps: 1, meanLoss: 1 },
      }).delta.payloadSha256;
    });
    expect(payloads[0]).not.toBe(payloads[1]);
  });
});

describe('the norm bound of a private job', () => {
  it.each<CodecId>(['dense-f32', 'dense-f16', 'topk-int8'])(
    'lets honest noised %s deltas through at normBound = privateDeltaNormBound',
    (codec) => {
      const job = smallJob({ codec, topkFraction: 0.05, errorFeedback: false }, 4096);
      const normBound = privateDeltaNormBound(PRIVACY, job.layout.size);
      const manifest = JobManifest.parse({
        ...job.manifest,
        privacy: PRIVACY,
        aggregation: { ...job.manifest.aggregation, normBound },
      });
      for (let trial = 0; trial < 5; trial++) {
        const author = new RoundState({ manifest, layout: job.layout, weights: job.w0 });
        const receiver = new RoundState({ manifest, layout: job.layout, weights: job.w0 });
        // A local step far longer than C: clipping, not the step, sets the signal's norm.
        const local = Float32Array.from(job.w0, (w, i) => w - Math.cos(i));
        const { parts } = contribute(author, PEER, {
          encoder: new ErrorFeedbackEncoder(job.layout.size, manifest.compression),
          localWeights: local,
          stats: { tokens: 1, steps: 1, meanLoss: 1 },
        });
        const verdicts = parts.map((p) => receiver.offer(deltaFrame(p.header, p.bytes), PEER!.id, 0));
        expect(verdicts.map((v) => v.action)).toEqual(parts.map(() => 'accept'));
      }
    },
  );
});
