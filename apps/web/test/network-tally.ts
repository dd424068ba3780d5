/**
 * Bytes a page and every worker it starts (workers of workers too: onnxruntime's wasm threads) receive
 * over HTTP, from the DevTools protocol's network events: each request's `Network.loadingFinished`
 * `encodedDataLength`, what came over the wire for it (headers and body as sent, compressed or not; 0
 * for an answer from the browser's cache). WebSocket traffic (the swarm) has no such events and is not
 * counted: this is the weight of the page, not of training.
 *
 * Dedicated workers are CDP targets of their own, so the page's session does not see their requests.
 * Auto-attach (not flattened, as the wire recorder of harness.ts does) holds each new worker until its
 * Network domain is on, at every level, so no request goes uncounted.
 */
import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import { z } from 'zod';

/** One finished request, for the total and for checking it against what was served. */
export interface Fetched {
  url: string;
  /** As it came over the wire: a revalidated copy is a 304 here (Chromium reports the cached 200). */
  status: number;
  /** Bytes on the wire (loadingFinished.encodedDataLength). */
  encodedBytes: number;
  /** The response's Content-Length and Content-Encoding, where it had them. */
  contentLength: number | undefined;
  contentEncoding: string | undefined;
  contentType: string | undefined;
  fromCache: boolean;
  /** When it finished, in ms after the page's document request was sent. */
  finishedMs: number;
}

const ResponseReceived = z.object({
  requestId: z.string(),
  response: z.object({
    url: z.string(),
    status: z.number(),
    headers: z.record(z.string(), z.string()),
    fromDiskCache: z.boolean().optional(),
    fromPrefetchCache: z.boolean().optional(),
    fromServiceWorker: z.boolean().optional(),
  }),
});
const ExtraInfo = z.object({ requestId: z.string(), statusCode: z.number() });
const ServedFromCache = z.object({ requestId: z.string() });
const RequestWillBeSent = z.object({
  requestId: z.string(),
  type: z.string().optional(),
  timestamp: z.number(),
});
const LoadingFinished = z.object({
  requestId: z.string(),
  encodedDataLength: z.number(),
  timestamp: z.number(),
});
const AttachedToTarget = z.object({ sessionId: z.string(), targetInfo: z.object({ type: z.string() }) });
const FromTarget = z.object({ sessionId: z.string(), message: z.string() });
const Message = z.object({
  id: z.number().optional(),
  method: z.string().optional(),
  params: z.unknown().optional(),
});

const NETWORK_EVENTS = [
  'Network.requestWillBeSent',
  'Network.responseReceived',
  'Network.responseReceivedExtraInfo',
  'Network.loadingFinished',
  'Network.requestServedFromCache',
] as const;

/** A CDP session to one target, reached directly or through its parents' sessions. */
interface Channel {
  send(method: string, params?: Record<string, unknown>): void;
}

/** A finished request; its wire status and cache flag are read when asked for (see `requests`). */
interface Finished extends Omit<Fetched, 'status' | 'fromCache'> {
  key: string;
  responseStatus: number;
  fromBrowserCache: boolean;
}

export class NetworkTally {
  private fetched: Finished[] = [];
  private readonly responses = new Map<string, z.infer<typeof ResponseReceived>['response']>();
  /** Status codes as received, by request (responseReceivedExtraInfo: absent for cache hits). */
  private readonly wireStatus = new Map<string, number>();
  /** Requests the memory cache answered (responseReceived flags only disk, prefetch and service worker). */
  private readonly servedFromCache = new Set<string>();
  /** When the page's last document request was sent (CDP's monotonic clock, seconds). */
  private documentSentAt = 0;
  /** Sessions of attached workers, by their path of session ids from the page. */
  private readonly children = new Map<string, Channel>();
  private nextId = 2_000_000;

  /** Starts counting what `page` (and the workers it starts from now on) receives. */
  static async watch(context: BrowserContext, page: Page): Promise<NetworkTally> {
    const tally = new NetworkTally();
    const cdp: CDPSession = await context.newCDPSession(page);
    const direct: Channel = {
      send: (method, params = {}) => void cdp.send(method as never, params as never),
    };
    for (const method of NETWORK_EVENTS) {
      cdp.on(method, (params: unknown) => tally.event('page', method, params));
    }
    cdp.on('Target.attachedToTarget', (params) => tally.attached('page', direct, params));
    cdp.on('Target.receivedMessageFromTarget', (params) => tally.fromTarget('page', params));
    await cdp.send('Network.enable');
    await cdp.send('Target.setAutoAttach', {
      autoAttach: true,
      waitForDebuggerOnStart: true,
      flatten: false,
    });
    return tally;
  }

  /**
   * Everything finished since the last reset. CDP may deliver `responseReceivedExtraInfo` and
   * `requestServedFromCache` after `loadingFinished`, so the status on the wire and the cache flag are
   * looked up now, not when the request finished (a revalidated or cached answer read too early looked
   * like a 200 whose body came over the wire in 0 or 778 bytes).
   */
  requests(): readonly Fetched[] {
    return this.fetched.map(({ key, responseStatus, fromBrowserCache, ...f }) => ({
      ...f,
      status: this.wireStatus.get(key) ?? responseStatus,
      fromCache: fromBrowserCache || this.servedFromCache.has(key),
    }));
  }

  bytes(): number {
    return this.fetched.reduce((sum, f) => sum + f.encodedBytes, 0);
  }

  /** Starts a new count (a second visit). */
  reset(): void {
    this.fetched = [];
  }

  /** Request ids are unique per target only: `scope` names the target's session path. */
  private event(scope: string, method: string, params: unknown): void {
    if (method === 'Network.requestWillBeSent') {
      const sent = RequestWillBeSent.parse(params);
      if (scope === 'page' && sent.type === 'Document') this.documentSentAt = sent.timestamp;
    } else if (method === 'Network.responseReceivedExtraInfo') {
      const { requestId, statusCode } = ExtraInfo.parse(params);
      this.wireStatus.set(`${scope}/${requestId}`, statusCode);
    } else if (method === 'Network.requestServedFromCache') {
      this.servedFromCache.add(`${scope}/${ServedFromCache.parse(params).requestId}`);
    } else if (method === 'Network.responseReceived') {
      const { requestId, response } = ResponseReceived.parse(params);
      this.responses.set(`${scope}/${requestId}`, response);
    } else if (method === 'Network.loadingFinished') {
      const { requestId, encodedDataLength, timestamp } = LoadingFinished.parse(params);
      const key = `${scope}/${requestId}`;
      const response = this.responses.get(key);
      if (response === undefined) return;
      const header = (name: string) =>
        Object.entries(response.headers).find(([k]) => k.toLowerCase() === name)?.[1];
      const length = header('content-length');
      this.fetched.push({
        key,
        url: response.url,
        responseStatus: response.status,
        encodedBytes: encodedDataLength,
        contentLength: length === undefined ? undefined : Number(length),
        contentEncoding: header('content-encoding'),
        contentType: header('content-type'),
        fromBrowserCache: Boolean(
          response.fromDiskCache || response.fromPrefetchCache || response.fromServiceWorker,
        ),
        finishedMs: (timestamp - this.documentSentAt) * 1000,
      });
    }
  }

  /** A new worker under `parent`: counts its requests, attaches to its own workers, then lets it run. */
  private attached(scope: string, parent: Channel, params: unknown): void {
    const { sessionId } = AttachedToTarget.parse(params);
    const child: Channel = {
      send: (method, params = {}) =>
        parent.send('Target.sendMessageToTarget', {
          sessionId,
          message: JSON.stringify({ id: this.nextId++, method, params }),
        }),
    };
    this.children.set(`${scope}/${sessionId}`, child);
    // In order: the worker runs only once its requests (and its own workers) are watched.
    child.send('Network.enable');
    child.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: true, flatten: false });
    child.send('Runtime.runIfWaitingForDebugger');
  }

  /** A message from a worker's session (or, nested, from one of its workers). */
  private fromTarget(scope: string, params: unknown): void {
    const { sessionId, message } = FromTarget.parse(params);
    const childScope = `${scope}/${sessionId}`;
    const { method, params: inner } = Message.parse(JSON.parse(message));
    if (method === undefined) return;
    if (method === 'Target.attachedToTarget') {
      const channel = this.children.get(childScope);
      if (channel) this.attached(childScope, channel, inner);
    } else if (method === 'Target.receivedMessageFromTarget') this.fromTarget(childScope, inner);
    else this.event(childScope, method, inner);
  }
}
