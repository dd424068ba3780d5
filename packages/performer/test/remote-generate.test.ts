/**
 * Generation through the remote engine, over an in-process MessageChannel (the same structured clone as a
 * worker thread or a Web Worker): tokens stream back as a local decoder draws them, and a cancel (abort
 * signal, or leaving the loop) stops the work on the other side and frees it for the next request.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { LoraConfig, ModelConfig } from '@slimswarm/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { createDecoder, InvalidSampleOptionsError } from '../src/decode/index.js';
import { drawFeatures } from '../src/model/features.js';
import { initTrainable, loraFrozen, mergeAdapters } from '../src/model/lora.js';
import { initParams } from '../src/model/params.js';
import type { Params } from '../src/model/params.js';
import { Rng } from '../src/model/random.js';
import { createNaiveEngine } from '../src/naive/index.js';
import {
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

function liveParams(): Params {
  const params = initParams(config);
  const rng = new Rng(7, 'remote-noise');
  for (const value of Object.values(params))
    for (let i = 0; i < value.length; i++) value[i]! += 0.3 * rng.normal();
  return params;
}

let open: { engine: RemoteEngine; ports: MessagePort[] }[] = [];
afterEach(async () => {
  for (const { engine, ports } of open) {
    await engine.dispose().catch(() => undefined);
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

/** A RemoteEngine served in this thread, counting the messages it is sent. */
async function connect(
  engineInit: EngineInit = init,
  keepBaseBytes?: number,
): Promise<{ remote: RemoteEngine; sent: string[] }> {
  const { port1, port2 } = new MessageChannel();
  const sent: string[] = [];
  port2.on('message', (m: { type: string }) => sent.push(m.type));
  serveEngine(portOf(port2), async (i) => createNaiveEngine(i.config), { keepBaseBytes });
  const remote = await RemoteEngine.connect(
    { ...portOf(port1), onError: () => {}, terminate: () => port1.close() },
    engineInit,
  );
  open.push({ engine: remote, ports: [port1, port2] });
  return { remote, sent };
}

async function drain(gen: AsyncGenerator<number, unknown>) {
  const tokens: number[] = [];
  for (;;) {
    const next = await gen.next();
    if (next.done) return { tokens, result: next.value };
    tokens.push(next.value);
  }
}

describe('RemoteEngine.generate', () => {
  it('streams the tokens a local decoder draws with the same weights and seed', async () => {
    const { remote } = await connect();
    const params = liveParams();
    const prompt = Int32Array.of(3, 1, 4, 1, 5, 9, 2);
    const sample = { seed: 21, maxTokens: 30, topK: 6, topP: 0.95, temperature: 0.8 };
    const local = await createDecoder(config, params, { chunk: init.chunk, threads: 1, featureEpoch: 2 });
    const want = await drain(local.generate(prompt, sample));
    await local.dispose();
    const got = await drain(remote.generate(params, prompt, { ...sample, featureEpoch: 2 }));
    expect(got).toEqual(want);
    expect(got.result).toEqual({ reason: 'maxTokens', tokens: 30 });
    // Another epoch's features give another model.
    const other = await drain(remote.generate(params, prompt, sample));
    expect(other.tokens).not.toEqual(want.tokens);
  });

  it('an abort signal cancels on the other side; the engine then answers the next request', async () => {
    const { remote, sent } = await connect();
    const params = liveParams();
    const controller = new AbortController();
    const tokens: number[] = [];
    const gen = remote.generate(params, Int32Array.of(1, 2, 3), {
      maxTokens: 100_000,
      signal: controller.signal,
    });
    for await (const token of gen) {
      tokens.push(token);
      if (tokens.length === 3) controller.abort();
    }
    expect(sent).toContain('cancel');
    expect(tokens.length).toBeGreaterThanOrEqual(3);
    expect(tokens.length).toBeLessThan(100_000);
    // The queue is free again: a loss and a new generation go through.
    const loss = await remote.loss(params, Int32Array.of(1, 2, 3, 4), drawFeatures(config));
    expect(loss).toBeGreaterThan(0);
    expect((await drain(remote.generate(params, Int32Array.of(5), { maxTokens: 4 }))).tokens).toHaveLength(4);
  });

  it('leaving the loop early cancels; an aborted signal before the start gives no tokens', async () => {
    const { remote, sent } = await connect();
    const params = liveParams();
    let count = 0;
    for await (const _ of remote.generate(params, Int32Array.of(7, 7), { maxTokens: 100_000 })) {
      if (++count === 5) break;
    }
    // Messages arrive in order: once a later request is answered, the cancel has been received.
    await remote.loss(params, Int32Array.of(1, 2), drawFeatures(config));
    expect(sent.filter((t) => t === 'cancel')).toHaveLength(1);
    const none = await drain(remote.generate(params, Int32Array.of(1), { signal: AbortSignal.abort() }));
    expect(none).toEqual({ tokens: [], result: { reason: 'aborted', tokens: 0 } });
  });

  it('refuses bad options here and reports the engine side’s typed failures', async () => {
    const { remote } = await connect();
    const params = liveParams();
    expect(() => remote.generate(params, Int32Array.of(1), { topP: 0 })).toThrow(InvalidSampleOptionsError);
    expect(() => remote.generate(params, Int32Array.of(1), { featureEpoch: -1 })).toThrow(
      InvalidSampleOptionsError,
    );
    const { 'ln_f.bias': _, ...missing } = params;
    await expect(drain(remote.generate(missing, Int32Array.of(1)))).rejects.toThrow(/ParamShapeError/);
    await expect(drain(remote.generate(params, Int32Array.of(1, 42)))).rejects.toThrow(RemoteEngineError);
    await expect(drain(remote.generate(params, new Int32Array(0)))).rejects.toThrow(/EmptyPromptError/);
  });
});

describe('RemoteEngine.generate on a LoRA job (wasm: the base is resident in the training session)', () => {
  const lora = LoraConfig.parse({ rank: 2, alpha: 4, targets: ['q', 'v', 'up'] });
  const base = liveParams();
  const adapters = (): Params => {
    const trainable = initTrainable(config, lora);
    const rng = new Rng(5, 'remote-lora');
    for (const value of Object.values(trainable))
      for (let i = 0; i < value.length; i++) value[i]! += 0.2 * rng.normal();
    return trainable;
  };
  const loraInit = (): EngineInit => ({ ...init, lora: { lora, frozen: loraFrozen(config, lora, base) } });

  it('samples from the adapters merged into the base it keeps, as a local decoder of the merged model', async () => {
    const trainable = adapters();
    const engineInit = loraInit();
    const merged = mergeAdapters(config, lora, { ...engineInit.lora!.frozen, ...trainable });
    const prompt = Int32Array.of(2, 7, 1, 8);
    const sample = { seed: 4, maxTokens: 12, temperature: 0.9 };
    const local = await createDecoder(config, merged, { chunk: init.chunk, threads: 1 });
    const want = await drain(local.generate(prompt, sample));
    await local.dispose();
    const { remote } = await connect(engineInit);
    expect(await drain(remote.generate(trainable, prompt, sample))).toEqual(want);
    // The adapters matter: the base alone samples another continuation.
    const plain = await createDecoder(config, base, { chunk: init.chunk, threads: 1 });
    expect((await drain(plain.generate(prompt, sample))).tokens).not.toEqual(want.tokens);
    await plain.dispose();
  });

  it('says generation is unavailable when the base is too large to keep beside the resident one', async () => {
    const { remote } = await connect(loraInit(), 0);
    await expect(drain(remote.generate(adapters(), Int32Array.of(1, 2)))).rejects.toThrow(
      /GenerationUnavailableError: .*slimswarm-generate/,
    );
  });
});
