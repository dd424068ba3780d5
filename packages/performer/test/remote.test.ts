/**
 * The engine behind a message port, over an in-process MessageChannel (the same structured clone and
 * transfer as a worker thread or a Web Worker): steps match the engine called directly, and the probe
 * (`verify`) passes a correct engine, refuses a wrong one, and gives up on one that never answers.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { ModelConfig } from '@slimswarm/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { createSlimEngine } from '../src/chunk/index.js';
import type { GradientEngine } from '../src/model/engine.js';
import { drawFeatures } from '../src/model/features.js';
import { initParams } from '../src/model/params.js';
import { createNaiveEngine } from '../src/naive/index.js';
import {
  EngineMismatchError,
  EngineTimeoutError,
  RemoteEngine,
  RemoteEngineError,
  serveEngine,
  type EngineInit,
  type EnginePort,
} from '../src/remote/index.js';

const config = ModelConfig.parse({
  dModel: 12,
  nLayers: 2,
  nHeads: 3,
  nFeatures: 5,
  vocabSize: 11,
  mlpRatio: 2,
  seed: 3,
});
const init: EngineInit = { config, chunk: 4, threads: 1, backend: 'wasm' };
const PROBE = { seqLen: 16, tolerance: 1e-2, timeoutMs: 30_000 };

let open: { engine: RemoteEngine | null; ports: MessagePort[] }[] = [];
afterEach(async () => {
  for (const { engine, ports } of open) {
    await engine?.dispose().catch(() => undefined);
    for (const p of ports) p.close();
  }
  open = [];
});

function portOf(p: MessagePort): EnginePort {
  return {
    postMessage: (message, transfer) => p.postMessage(message, transfer),
    onMessage: (listener) => p.on('message', listener),
  };
}

/** A RemoteEngine whose other side, in this thread, serves what `create` builds. */
async function connect(create: (init: EngineInit) => Promise<GradientEngine>): Promise<RemoteEngine> {
  const { port1, port2 } = new MessageChannel();
  const entry = { engine: null as RemoteEngine | null, ports: [port1, port2] };
  open.push(entry);
  serveEngine(portOf(port2), create);
  entry.engine = await RemoteEngine.connect(
    { ...portOf(port1), onError: () => {}, terminate: () => port1.close() },
    init,
  );
  return entry.engine;
}

/** The naive engine with one thing changed. */
function altered(change: Partial<GradientEngine>): (init: EngineInit) => Promise<GradientEngine> {
  return async (i) => ({ ...createNaiveEngine(i.config), ...change });
}

describe('RemoteEngine', () => {
  it('steps as the engine does when called directly', async () => {
    const remote = await connect(async (i) => createNaiveEngine(i.config));
    const params = initParams(config);
    const tokens = Int32Array.from({ length: 9 }, (_, i) => (i * 5) % config.vocabSize);
    const features = drawFeatures(config);
    const direct = await createNaiveEngine(config).lossAndGrad(params, tokens, features);
    const viaPort = await remote.lossAndGrad(params, tokens, features);
    expect(viaPort.loss).toBe(direct.loss);
    expect(viaPort.grads).toEqual(direct.grads);
    expect(await remote.loss(params, tokens, features)).toBe(direct.loss);
  });

  describe('verify (the probe step against the float64 reference)', () => {
    it('passes the SLiM engine on onnxruntime', async () => {
      const remote = await connect((i) =>
        createSlimEngine(i.config, { chunk: i.chunk, threads: i.threads, backend: i.backend }),
      );
      const report = await remote.verify(PROBE);
      expect(report.ok).toBe(true);
      expect(report.tokens).toBe(2 * init.chunk + 1); // two chunks, so the carried state is exercised
      expect(report.gradError).toBeLessThan(1e-3);
      // Still usable afterwards.
      expect(
        await remote.loss(initParams(config), new Int32Array([1, 2, 3]), drawFeatures(config)),
      ).toBeGreaterThan(0);
    });

    it('refuses an engine whose gradients are wrong, naming the tensor', async () => {
      const naive = createNaiveEngine(config);
      const remote = await connect(
        altered({
          lossAndGrad: async (params, tokens, features) => {
            const result = await naive.lossAndGrad(params, tokens, features);
            const name = Object.keys(result.grads).sort()[0]!;
            result.grads[name] = result.grads[name]!.map((g) => 1.5 * g);
            return result;
          },
        }),
      );
      const name = Object.keys(initParams(config)).sort()[0]!;
      const err = await remote.verify(PROBE).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EngineMismatchError);
      expect((err as Error).message).toContain(`gradient of ${name} off by 0.500`);
    });

    it('refuses an engine that computes NaN', async () => {
      const naive = createNaiveEngine(config);
      const remote = await connect(
        altered({
          lossAndGrad: async (params, tokens, features) => {
            const { grads } = await naive.lossAndGrad(params, tokens, features);
            return { loss: Number.NaN, grads };
          },
        }),
      );
      await expect(remote.verify(PROBE)).rejects.toThrow(/loss not finite/);
    });

    it('gives up on an engine that never answers, and refuses further calls', async () => {
      const remote = await connect(altered({ lossAndGrad: () => new Promise(() => {}) }));
      await expect(remote.verify({ ...PROBE, timeoutMs: 200 })).rejects.toThrow(EngineTimeoutError);
      await expect(
        remote.loss(initParams(config), new Int32Array([1, 2]), drawFeatures(config)),
      ).rejects.toThrow(EngineTimeoutError);
    });

    it('rejects a report that is not one of the protocol', async () => {
      const { port1, port2 } = new MessageChannel();
      open.push({ engine: null, ports: [port1, port2] });
      // A host that answers init, then sends a malformed probe report.
      port2.on('message', (m: { type: string; id?: number }) => {
        if (m.type === 'init') port2.postMessage({ type: 'ready' });
        if (m.type === 'verify') port2.postMessage({ type: 'verify', id: m.id, report: { ok: 'yes' } });
      });
      const remote = await RemoteEngine.connect(
        { ...portOf(port1), onError: () => {}, terminate: () => port1.close() },
        init,
      );
      open.at(-1)!.engine = remote;
      await expect(remote.verify(PROBE)).rejects.toThrow(RemoteEngineError);
    });
  });
});
