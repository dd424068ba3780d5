/**
 * The training worker: the swarm peer (WebSockets to the coordinator, circuit relay) and the volunteer
 * loop, off the page's thread; the gradients themselves are computed by the SLiM engine on onnxruntime-web
 * in a compute worker of its own (remote-engine.ts), so this thread always answers the network. The text
 * is read from IndexedDB (where the page put the picked files) into token sequences that only the
 * engine sees.
 */
import { fetchBase, fetchJob, runVolunteer, type VolunteerEvent } from '@slimswarm/client';
import { blobSource, streamSequences } from '@slimswarm/performer';
import { createBrowserPeer, type SwarmPeer } from '@slimswarm/swarm';
import { NoDataError } from './errors.js';
import { ToWorker, parseMessage, type ComputeBackend, type FromWorker, type TabState } from './messages.js';
import { RemoteEngine } from './remote-engine.js';
import { VolunteerStorage } from './storage.js';

/** The parts of DedicatedWorkerGlobalScope used here (the project's DOM lib has no worker scope). */
interface WorkerScope {
  postMessage(message: FromWorker): void;
  addEventListener(type: 'message', listener: (e: MessageEvent<unknown>) => void): void;
}
const scope = self as unknown as WorkerScope;

/** Sequences buffered for shuffling: bounded memory, varied order. */
const SHUFFLE_BUFFER = 64;
const NETWORK_REPORT_MS = 2000;

function post(message: FromWorker): void {
  scope.postMessage(message);
}

function setState(state: TabState): void {
  post({ type: 'state', state });
}

/** Holds training between steps while the volunteer has paused. */
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
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (gpu) {
    const adapter = await gpu.requestAdapter().catch(() => null);
    if (adapter) return { backend: 'webgpu', threads: 1, crossOriginIsolated };
  }
  // Threads need SharedArrayBuffer, i.e. cross-origin isolation; leave a core to the page and the network.
  const cores = navigator.hardwareConcurrency || 1;
  const threads = crossOriginIsolated ? Math.max(1, Math.min(4, cores - 1)) : 1;
  return { backend: 'wasm', threads, crossOriginIsolated };
}

/** Browsers dial only WebSocket multiaddrs. */
function webSocketAddresses(addresses: readonly string[]): string[] {
  return addresses.filter((a) => /\/wss?(\/|$)/.test(a) || a.includes('/tls/ws'));
}

function isLocal(url: URL): boolean {
  return url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\./.test(url.hostname);
}

async function* trainingTokens(blob: Blob, seqLen: number, gate: PauseGate): AsyncGenerator<Int32Array> {
  const seed = crypto.getRandomValues(new Uint32Array(1))[0]!;
  const sequences = streamSequences(blobSource(blob), {
    seqLen,
    epochs: Infinity,
    shuffle: { bufferSize: SHUFFLE_BUFFER, seed },
  });
  for await (const sequence of sequences) {
    await gate.wait();
    yield sequence.tokens;
  }
}

async function train(start: Extract<ToWorker, { type: 'start' }>, gate: PauseGate, signal: AbortSignal) {
  const coordinator = new URL(start.coordinator);
  const storage = await VolunteerStorage.open();
  const files = await storage.files();
  if (files.length === 0) throw new NoDataError('no files were chosen');
  const text = new Blob(files.map((f) => f.blob));

  const { manifest, bootstrap } = await fetchJob(coordinator);
  const base = await fetchBase(coordinator, manifest);
  const compute = await chooseBackend();
  post({ type: 'backend', compute });
  const engine = await RemoteEngine.create({
    config: manifest.model,
    chunk: manifest.training.chunkSize,
    threads: compute.threads,
    backend: compute.backend,
    ortWasmPrefix: start.ortWasmPrefix,
  });
  const local = isLocal(coordinator);
  let peer: SwarmPeer | null = null;
  let networkReports: ReturnType<typeof setInterval> | undefined;
  try {
    peer = await createBrowserPeer({
      role: 'browser',
      bootstrap: webSocketAddresses(bootstrap),
      allowInsecureLocal: local,
      ...(local ? { gossip: { ipColocationFactorWeight: 0 } } : {}),
    });
    const connected = peer;
    networkReports = setInterval(
      () => post({ type: 'network', peers: connected.getPeers().length }),
      NETWORK_REPORT_MS,
    );
    await runVolunteer({
      manifest,
      peer,
      engine,
      engineName: `slim-ort ${compute.backend}${compute.backend === 'wasm' ? ` ×${compute.threads}` : ''}`,
      base,
      sequences: trainingTokens(text, manifest.training.seqLen, gate),
      store: storage.volunteerStore(manifest.jobId),
      signal,
      emit: (event: VolunteerEvent) => {
        if (event.event === 'ready') setState(gate.paused ? 'paused' : 'training');
        post({ type: 'volunteer', event });
      },
    });
  } finally {
    clearInterval(networkReports);
    await peer?.stop();
    await engine.dispose();
    storage.close();
  }
}

const gate = new PauseGate();
const stop = new AbortController();
let running: Promise<void> | null = null;

scope.addEventListener('message', (e) => {
  let message: ToWorker;
  try {
    message = parseMessage(ToWorker, e.data);
  } catch (err) {
    const { name, message: text } = err as Error;
    post({ type: 'volunteer', event: { event: 'error', name, message: text } });
    return;
  }
  switch (message.type) {
    case 'start':
      if (running) return;
      setState('joining');
      running = train(message, gate, stop.signal).then(
        () => setState('stopped'),
        (err: unknown) => {
          const { name, message: text } = err instanceof Error ? err : new Error(String(err));
          post({ type: 'volunteer', event: { event: 'error', name, message: text } });
          setState('failed');
        },
      );
      break;
    case 'pause':
      gate.pause();
      if (running) setState('paused');
      break;
    case 'resume':
      gate.resume();
      if (running) setState('training');
      break;
    case 'stop':
      stop.abort();
      gate.resume();
      break;
  }
});
