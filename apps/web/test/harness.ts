/**
 * What the browser end-to-end test needs around Chromium: building the pages, the coordinator and a Node
 * worker as real processes, a Chromium per volunteer, a recorder of everything a browser context sends
 * (its pages' and its workers' WebSocket frames, every request body, every WebRTC data-channel message
 * before encryption), and a Node peer that sees the job's gossip in plaintext. Nothing leaves the machine:
 * HTTP and WebSockets go to loopback, and WebRTC between tabs has only this machine's own addresses as
 * candidates (no STUN servers are listed, so there are no others).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VolunteerEvent } from '@slimswarm/client';
import { writeSmallJob } from '@slimswarm/default-job';
import { topics } from '@slimswarm/protocol';
import { createNodePeer, type SwarmPeer } from '@slimswarm/swarm';
import { chromium, type Browser, type BrowserContext, type CDPSession, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll } from 'vitest';
import { CoordinatorEvent, loadOrCreateJobKey } from '@slimswarm/coordinator';
import { REPO_ROOT, spawnJsonChild, type JsonChild } from '@slimswarm/local';

export const ARTIFACTS = join(REPO_ROOT, 'artifacts', 'web-e2e');

/** The flags NOTES.md lists for Debian's Chromium on these machines. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Host candidates as plain addresses rather than mDNS names, whose resolution multicasts on the LAN.
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];

/**
 * Time for a test's setup that builds the pages: the first build of a fresh clone brotli-compresses
 * onnxruntime's wasm builds at quality 11 (tools/precompress.ts; about two minutes on a shared core),
 * later builds take the compressed files from the cache.
 */
export const BUILD_PAGES_MS = 300_000;

export async function buildPages(): Promise<void> {
  for (const app of ['web', 'dashboard']) {
    await build({ configFile: join(REPO_ROOT, 'apps', app, 'vite.config.ts'), logLevel: 'error' });
  }
}

export async function scratchDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'slimswarm-web-e2e-'));
}

export interface TestJob {
  manifestPath: string;
  basePath: string;
  keyPath: string;
}

/**
 * The small job (default-job's small-job.ts: the default job's rules on a 116 k-parameter model), so
 * two tabs and a worker finish rounds in seconds; admitted at 12 bits, since the test is about training
 * together, not about minting on a loaded CPU. The coordinator signs it with the key written here.
 */
export async function writeTestJob(dir: string): Promise<TestJob> {
  const keyPath = join(dir, 'job.key');
  const key = await loadOrCreateJobKey(keyPath);
  const { manifestPath, basePath } = await writeSmallJob(dir, {
    jobKey: key.publicKey,
    admission: { mode: 'open', difficultyBits: 12 },
  });
  return { manifestPath, basePath, keyPath };
}

const log = (label: string, line: string) => {
  if (process.env.SLIMSWARM_E2E_LOG) console.log(`[${label}] ${line}`);
};

/** `flags`: more coordinator flags (the privacy test's --dp-*). */
export async function startCoordinator(job: TestJob, flags: readonly string[] = []) {
  const child = spawnJsonChild(CoordinatorEvent, {
    label: 'coordinator',
    entry: 'apps/coordinator/src/main.ts',
    args: [
      ...['--port', '0', '--json', '--base', job.basePath],
      ...['--manifest', job.manifestPath, '--job-key', job.keyPath],
      ...flags,
    ],
    log,
  });
  const listening = await child.waitFor(
    (e): e is Extract<CoordinatorEvent, { event: 'listening' }> => e.event === 'listening',
    30_000,
  );
  return { child, listening };
}

export function startWorker(
  coordinator: string,
  data: string,
  checkpointDir: string,
): JsonChild<VolunteerEvent> {
  return spawnJsonChild(VolunteerEvent, {
    label: 'worker',
    entry: 'apps/worker/src/main.ts',
    args: [
      '--coordinator',
      coordinator,
      '--data',
      data,
      '--json',
      '--threads',
      '1',
      '--checkpoint-dir',
      checkpointDir,
    ],
    log,
  });
}

export async function launchChromium(): Promise<Browser> {
  // Playwright gives every launch a fresh temporary profile (--user-data-dir) and deletes it on close.
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

/**
 * Runs in every page before its own scripts: reports each message a data channel sends, as base64, under
 * an id unique to the channel. DTLS encrypts below `send`, so this is the last point the bytes are
 * readable. Messages are at most 16 KiB; a marker may straddle two, hence the per-channel id.
 */
function tapDataChannels(binding: string): void {
  const load = Math.random().toString(36).slice(2);
  const ids = new WeakMap<RTCDataChannel, string>();
  const report = (globalThis as unknown as Record<string, (channel: string, base64: string) => void>)[
    binding
  ]!;
  const send = RTCDataChannel.prototype.send;
  RTCDataChannel.prototype.send = function (this: RTCDataChannel, data: never) {
    const view = data as unknown;
    if (ArrayBuffer.isView(view) || view instanceof ArrayBuffer) {
      const bytes = ArrayBuffer.isView(view)
        ? new Uint8Array(view.buffer, view.byteOffset, view.byteLength)
        : new Uint8Array(view);
      let text = '';
      for (const b of bytes) text += String.fromCharCode(b);
      if (!ids.has(this)) ids.set(this, `${load}/${Math.random().toString(36).slice(2)}`);
      report(ids.get(this)!, btoa(text));
    }
    return send.call(this, data);
  };
}

const DATA_CHANNEL_BINDING = '__slimswarmDataChannelSent';

/**
 * Everything one browser context sends, as bytes: WebSocket frames (pages and workers), request bodies,
 * and WebRTC data-channel messages before encryption.
 */
export class WireRecorder {
  readonly frames: Uint8Array[] = [];
  readonly bodies: Uint8Array[] = [];
  readonly consoleErrors: string[] = [];
  /** Data-channel messages in send order, by channel. */
  private readonly channels = new Map<string, Uint8Array[]>();
  private nextId = 1_000_000;
  private tapped = false;

  constructor(private readonly context: BrowserContext) {
    context.on('request', (request) => {
      const body = request.postDataBuffer();
      if (body) this.bodies.push(new Uint8Array(body));
    });
  }

  /** What each data channel sent, joined in order (one byte string per channel). */
  dataChannelStreams(): Uint8Array[] {
    return [...this.channels.values()].map((messages) => new Uint8Array(Buffer.concat(messages)));
  }

  /** Starts recording `page` and every worker it starts (auto-attached before they run). */
  async watch(page: Page): Promise<void> {
    if (!this.tapped) {
      this.tapped = true;
      await this.context.exposeBinding(DATA_CHANNEL_BINDING, (_source, channel: string, base64: string) => {
        const messages = this.channels.get(channel) ?? [];
        messages.push(new Uint8Array(Buffer.from(base64, 'base64')));
        this.channels.set(channel, messages);
      });
      await this.context.addInitScript(tapDataChannels, DATA_CHANNEL_BINDING);
    }
    page.on('console', (m) => {
      if (m.type() === 'error') this.consoleErrors.push(`${page.url()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => this.consoleErrors.push(`${page.url()}: ${e.name}: ${e.message}`));
    const cdp = await this.context.newCDPSession(page);
    cdp.on('Network.webSocketFrameSent', (e) => this.frame(e.response));
    await cdp.send('Network.enable');
    await this.attachWorkers(cdp);
  }

  private frame(response: { opcode: number; payloadData: string }): void {
    // CDP gives text frames as text and binary frames as base64.
    this.frames.push(
      response.opcode === 2
        ? new Uint8Array(Buffer.from(response.payloadData, 'base64'))
        : new TextEncoder().encode(response.payloadData),
    );
  }

  /**
   * Dedicated workers are separate CDP targets: the page session does not report their traffic. The
   * (non-flat) auto-attach pauses each new worker until its Network domain is on, so no frame is missed.
   */
  private async attachWorkers(cdp: CDPSession): Promise<void> {
    cdp.on('Target.attachedToTarget', (e) => {
      const send = (method: string) =>
        cdp.send('Target.sendMessageToTarget', {
          sessionId: e.sessionId,
          message: JSON.stringify({ id: this.nextId++, method, params: {} }),
        });
      void send('Network.enable')
        .then(() => send('Runtime.runIfWaitingForDebugger'))
        .catch(() => {});
    });
    cdp.on('Target.receivedMessageFromTarget', (e) => {
      const message = JSON.parse(e.message) as { method?: string; params?: Record<string, unknown> };
      if (message.method === 'Network.webSocketFrameSent') {
        this.frame((message.params as { response: { opcode: number; payloadData: string } }).response);
      }
      if (message.method === 'Network.requestWillBeSent') {
        const post = (message.params as { request: { postData?: string } }).request.postData;
        if (post) this.bodies.push(new TextEncoder().encode(post));
      }
    });
    await cdp.send('Target.setAutoAttach', {
      autoAttach: true,
      waitForDebuggerOnStart: true,
      flatten: false,
    });
  }
}

/** A Node peer in the job's gossip mesh that keeps every message it receives, decrypted, with its sender. */
export async function gossipObserver(bootstrap: string[], jobId: string) {
  const peer: SwarmPeer = await createNodePeer({
    role: 'dashboard',
    bootstrap,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    gossip: { ipColocationFactorWeight: 0 },
  });
  const messages: { from: string; topic: string; data: Uint8Array }[] = [];
  peer.services.pubsub.addEventListener('message', (e) => {
    const m = e.detail;
    messages.push({ from: m.type === 'signed' ? m.from.toString() : '', topic: m.topic, data: m.data });
  });
  for (const topic of [topics.heartbeat, topics.deltas, topics.summaries])
    peer.services.pubsub.subscribe(topic(jobId));
  return { peer, messages };
}

/** Where `needle` occurs in `haystack`, or -1. */
export function indexOfBytes(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** The forms the marker could take on the wire: UTF-8 text, UTF-16 text, and byte-token ids as int32. */
export function markerForms(marker: string): Uint8Array[] {
  const utf8 = new TextEncoder().encode(marker);
  const utf16 = new Uint8Array(new Uint16Array([...marker].map((c) => c.charCodeAt(0))).buffer);
  const int32 = new Uint8Array(Int32Array.from(utf8).buffer);
  return [utf8, utf16, int32];
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** A test file's coordinator on the test job, serving freshly built pages, and its Chromium. */
export interface PageSuite {
  /** Scratch folder of the file (removed after its tests). */
  dir: string;
  coordinator: Awaited<ReturnType<typeof startCoordinator>>;
  browser: Browser;
}

/**
 * Sets up a PageSuite before the file's tests (`flags`: the coordinator's extra flags) and stops it after
 * them. The fields are filled once the file's first beforeAll has run.
 */
export function pageSuite(flags: readonly string[] = []): PageSuite {
  const suite: Partial<PageSuite> = {};
  beforeAll(async () => {
    suite.dir = await scratchDir();
    const [job] = await Promise.all([writeTestJob(suite.dir), buildPages()]);
    suite.coordinator = await startCoordinator(job, flags);
    suite.browser = await launchChromium();
  }, BUILD_PAGES_MS);
  afterAll(async () => {
    await suite.browser?.close();
    await suite.coordinator?.child.stop(10_000);
    if (suite.dir) await removeDir(suite.dir);
  }, 60_000);
  return suite as PageSuite;
}
