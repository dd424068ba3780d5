/**
 * The tab's volunteer session: @slimswarm/client's startVolunteerSession with a browser peer (WebSockets
 * to the coordinator, circuit relay, WebRTC to other tabs), plus what only a page has: one volunteering
 * tab per browser (a Web Lock), the pause gate, network reports and state updates. It runs on the page's
 * thread because RTCPeerConnection exists only there (not in workers); the gradients — nearly all the
 * work, the WebGPU probe included — are computed by the SLiM engine on onnxruntime-web in a compute
 * worker (compute-worker.ts), so this thread stays free for the UI and the network. The text is read from
 * IndexedDB (where the page put the picked files), scrubbed of PII unless the volunteer said not to, and
 * made into token sequences that only the engine sees.
 */
import { mintInWorker } from './mint.js';
import { localTrainingSequences, startVolunteerSession, type VolunteerEvent } from '@slimswarm/client';
import {
  blobSource,
  RemoteEngine,
  type EngineInit,
  type LoraFrozen,
  type GenerateResult,
  type SampleOptions,
  type TokenTextStream,
  type Tokenizer,
} from '@slimswarm/performer';
import type { ModelConfig } from '@slimswarm/protocol';
import { createBrowserPeer, dialableBy, newIdentityBytes, webRtcPeers } from '@slimswarm/swarm';
import { AlreadyVolunteeringError, NoDataError, NoModelYetError } from './errors.js';
import { VolunteerStorage } from './storage.js';

export type TabState = 'idle' | 'joining' | 'training' | 'paused' | 'stopped' | 'failed';

export interface ComputeBackend {
  backend: 'wasm' | 'webgpu';
  threads: number;
  crossOriginIsolated: boolean;
  /** Why the preferred backend (WebGPU) could not start, when it could not. */
  fallbackReason: string | null;
}

/** What a session reports to the page (same thread: plain values, the volunteer events already checked). */
export type SessionUpdate =
  | { type: 'state'; state: TabState }
  | { type: 'backend'; compute: ComputeBackend }
  | { type: 'volunteer'; event: VolunteerEvent }
  /** Live network view, more often than round events; `webRtcPeers` are reached over a direct channel. */
  | { type: 'network'; peers: string[]; webRtcPeers: string[] }
  /** Whether the tab holds a shared model it can sample from (the "Try the shared model" panel). */
  | { type: 'model'; available: boolean };

const NETWORK_REPORT_MS = 2000;
/** Held by the one tab of this browser that volunteers. */
const VOLUNTEER_LOCK = 'slimswarm-volunteer';
/** How often the tab looks for peers that joined after it (see keepMeeting). */
const MEET_INTERVAL_MS = 10_000;
/** Longest the WebGPU probe may take (its float64 reference step and the engine's first step). */
const WEBGPU_PROBE_MS = 60_000;
/** fp32 on a GPU against the float64 reference: loose enough for rounding, far below any real fault. */
const PROBE_TOLERANCE = 1e-2;

/** Holds training between steps while the volunteer has paused (runVolunteer tells the swarm). */
class PauseGate {
  private resumeWaiters: (() => void)[] = [];
  paused = false;

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    for (const wake of this.resumeWaiters.splice(0)) wake();
  }

  wait(): Promise<void> {
    return this.paused ? new Promise((resolve) => this.resumeWaiters.push(resolve)) : Promise.resolve();
  }
}

async function chooseBackend(): Promise<ComputeBackend> {
  // Threads need SharedArrayBuffer, i.e. cross-origin isolation; leave a core to the page and the network.
  // They also serve the CPU parts of a WebGPU session.
  const cores = navigator.hardwareConcurrency || 1;
  const threads = crossOriginIsolated ? Math.max(1, Math.min(4, cores - 1)) : 1;
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
  return { backend: adapter ? 'webgpu' : 'wasm', threads, crossOriginIsolated, fallbackReason: null };
}

/** Set by vite.config.ts: whether workers are bundled, i.e. served from `vite build`'s output. */
declare const __COMPUTE_WORKERS_BUNDLED__: boolean;

/**
 * A compute worker (compute-worker.ts) whose onnxruntime build fits the backend: the WebGPU (JSEP) build
 * only where WebGPU is tried, so that a tab without an adapter never fetches its 28 MB binary. The dev
 * server does not bundle workers, so there the performer's modules and the wasm entry would load two
 * onnxruntime builds side by side; it starts the WebGPU entry, whose build runs wasm too.
 */
function newComputeWorker(backend: ComputeBackend['backend']): Worker {
  // Vite finds worker entries (and their options) by these literal forms only.
  if (backend === 'webgpu' || !__COMPUTE_WORKERS_BUNDLED__)
    return new Worker(new URL('./compute-worker-webgpu.ts', import.meta.url), {
      type: 'module',
      name: 'compute',
    });
  return new Worker(new URL('./compute-worker-wasm.ts', import.meta.url), {
    type: 'module',
    name: 'compute',
  });
}

/** The gradient engine in a compute worker of its own. */
function startComputeWorker(init: EngineInit, transferFrozen: boolean): Promise<RemoteEngine> {
  const worker = newComputeWorker(init.backend);
  return RemoteEngine.connect(
    {
      postMessage: (message, transfer) => worker.postMessage(message, transfer ?? []),
      onMessage: (listener) => worker.addEventListener('message', (e) => listener(e.data)),
      onError: (listener) => worker.addEventListener('error', (e) => listener(new Error(e.message))),
      terminate: () => worker.terminate(),
    },
    init,
    { transferFrozen },
  );
}

/** The engine on the best backend the browser offers; WebGPU falls back to wasm if it cannot train. */
async function startEngine(
  config: ModelConfig,
  training: { chunkSize: number; seqLen: number },
  lora: LoraFrozen | undefined,
): Promise<{ compute: ComputeBackend; engine: RemoteEngine }> {
  const preferred = await chooseBackend();
  // The last engine started may take the frozen base (moved, not copied); a WebGPU try keeps it for the
  // wasm fallback.
  const start = (compute: ComputeBackend, last: boolean) =>
    startComputeWorker(
      {
        config,
        chunk: training.chunkSize,
        threads: compute.threads,
        backend: compute.backend,
        ...(lora ? { lora } : {}),
      },
      last,
    );
  if (preferred.backend === 'wasm') return { compute: preferred, engine: await start(preferred, true) };
  let engine: RemoteEngine | null = null;
  try {
    engine = await start(preferred, false);
    // A WebGPU engine must reproduce the float64 reference on one gradient step before it trains: an
    // adapter can exist and still compute garbage, or never finish. The compute worker runs both steps
    // (the reference's float64 work stays off this thread); the time limit is kept here.
    await engine.verify({ seqLen: training.seqLen, tolerance: PROBE_TOLERANCE, timeoutMs: WEBGPU_PROBE_MS });
    return { compute: preferred, engine };
  } catch (err) {
    await engine?.dispose();
    const { name, message } = err instanceof Error ? err : new Error(String(err));
    const compute = { ...preferred, backend: 'wasm' as const, fallbackReason: `WebGPU: ${name}: ${message}` };
    return { compute, engine: await start(compute, true) };
  }
}

/** Browsers dial only WebSocket multiaddrs. */
function isLocal(url: URL): boolean {
  return url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\./.test(url.hostname);
}

export interface SessionStart {
  /** Origin of the coordinator (the page's own origin in production). */
  coordinator: string;
  /** Scrub PII from the files before tokenising; the counts come back as 'scrubbed' events for the page. */
  scrub: boolean;
}

/** Trains in this tab until stopped; reports what the page shows through `report`. */
export class VolunteerSession {
  private readonly gate = new PauseGate();
  private readonly abort = new AbortController();
  private running: Promise<void> | null = null;
  /** The compute worker's engine, once started, and how to read the shared model the loop holds. */
  private engine: RemoteEngine | null = null;
  private sharedModel: (() => { weights: Record<string, Float32Array> }) | null = null;
  /** The job's verified tokenizer, from when the session has it (before any shared model exists). */
  private tokenizer: Tokenizer | null = null;

  constructor(private readonly report: (update: SessionUpdate) => void) {}

  start(start: SessionStart, paused = false): void {
    if (this.running) return;
    if (paused) this.gate.pause();
    this.setState('joining');
    this.running = this.trainAlone(start).then(
      () => this.setState('stopped'),
      (err: unknown) => {
        this.reportError(err);
        this.setState('failed');
      },
    );
  }

  pause(): void {
    this.gate.pause();
    if (this.running) this.setState('paused');
  }

  resume(): void {
    this.gate.resume();
    if (this.running) this.setState('training');
  }

  /** Stops training (the loop checkpoints what it has) and closes the peer and the engine. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.gate.resume();
    await this.running;
  }

  /**
   * Samples a continuation of `prompt` from the shared model this tab holds now (a copy of the replica's
   * weights), yielding token ids as they arrive. It runs in the compute worker, through the remote
   * engine's `generate` request, which serveEngine queues with the training requests: it starts between
   * two gradient steps, and the step after it waits until it ends or is stopped (Stop cancels at once,
   * past the queue). So training pauses for one generation — bounded by `maxTokens`, which the panel
   * caps — and goes on where it was, while the page thread, which runs the peer, only relays messages and
   * keeps the network going. A second compute worker would run beside training instead, but on the
   * cores training already uses (slowing every step for as long as the panel is open) and with a second
   * wasm heap and copy of the model; pausing the loop (the pause gate) would tell the swarm this tab left.
   */
  generate(
    prompt: string,
    sample: Pick<SampleOptions, 'maxTokens' | 'temperature' | 'topK' | 'topP' | 'seed'>,
    signal: AbortSignal,
  ): AsyncGenerator<number, GenerateResult, undefined> {
    if (!this.engine || !this.sharedModel || !this.tokenizer)
      throw new NoModelYetError('the tab holds no shared model yet');
    const { weights } = this.sharedModel();
    return this.engine.generate(weights, this.tokenizer.encode(prompt), { ...sample, signal });
  }

  /** The text of generated tokens as they arrive, through the job's tokenizer. */
  textStream(): TokenTextStream {
    if (!this.tokenizer) throw new NoModelYetError('the tab holds no shared model yet');
    return this.tokenizer.textStream();
  }

  private setState(state: TabState): void {
    this.report({ type: 'state', state });
  }

  private reportError(err: unknown): void {
    const { name, message } = err instanceof Error ? err : new Error(String(err));
    this.report({ type: 'volunteer', event: { event: 'error', name, message } });
  }

  /**
   * Trains while holding this browser's volunteer lock: tabs of one browser share its IndexedDB (files,
   * checkpoints, identity), so a second tab must not join as the same peer. The lock goes with the tab.
   */
  private async trainAlone(start: SessionStart): Promise<void> {
    await navigator.locks.request(VOLUNTEER_LOCK, { ifAvailable: true }, async (lock) => {
      if (!lock) throw new AlreadyVolunteeringError('this browser is already volunteering in another tab');
      await this.train(start);
    });
  }

  private async train(start: SessionStart): Promise<void> {
    const storage = await VolunteerStorage.open();
    let networkReports: ReturnType<typeof setInterval> | undefined;
    try {
      const files = await storage.files();
      if (files.length === 0) throw new NoDataError('no files were chosen');
      const text = new Blob(files.map((f) => f.blob));
      const identity = await storage.identity(newIdentityBytes);
      const coordinator = new URL(start.coordinator);
      const local = isLocal(coordinator);
      await startVolunteerSession({
        coordinator,
        canDial: dialableBy('browser'),
        createPeer: async ({ iceServers }, bootstrap) => {
          const peer = await createBrowserPeer({
            role: 'browser',
            identity: { kind: 'bytes', privateKey: identity },
            bootstrap,
            iceServers,
            allowInsecureLocal: local,
            ...(local ? { gossip: { ipColocationFactorWeight: 0 } } : {}),
          });
          networkReports = setInterval(
            () =>
              this.report({
                type: 'network',
                peers: peer.getPeers().map((p) => p.toString()),
                webRtcPeers: webRtcPeers(peer.getConnections()),
              }),
            NETWORK_REPORT_MS,
          );
          return peer;
        },
        createEngine: async (manifest, lora) => {
          const { compute, engine } = await startEngine(manifest.model, manifest.training, lora);
          this.report({ type: 'backend', compute });
          this.engine = engine;
          const threads = compute.backend === 'wasm' ? ` ×${compute.threads}` : '';
          return { engine, name: `slim-ort ${compute.backend}${threads}` };
        },
        sequences: ({ manifest, tokenizer }) => {
          this.tokenizer = tokenizer;
          return localTrainingSequences(blobSource(text), {
            seqLen: manifest.training.seqLen,
            seed: crypto.getRandomValues(new Uint32Array(1))[0]!,
            tokenizer,
            // The page shows the counts; they go nowhere else.
            ...(start.scrub
              ? {
                  scrub: (report) =>
                    this.report({ type: 'volunteer', event: { event: 'scrubbed', ...report } }),
                }
              : {}),
          });
        },
        store: (manifest) => storage.volunteerStore(manifest.jobId),
        pins: storage.jobKeyPins(),
        stamps: storage.stampStore(),
        mint: mintInWorker,
        meetIntervalMs: MEET_INTERVAL_MS,
        pause: this.gate,
        signal: this.abort.signal,
        onSharedModel: (current) => {
          this.sharedModel = current;
          this.report({ type: 'model', available: current !== null });
        },
        emit: (event: VolunteerEvent) => {
          if (event.event === 'ready') this.setState(this.gate.paused ? 'paused' : 'training');
          this.report({ type: 'volunteer', event });
        },
      });
    } finally {
      this.engine = null;
      this.tokenizer = null;
      clearInterval(networkReports);
      storage.close();
    }
  }
}
