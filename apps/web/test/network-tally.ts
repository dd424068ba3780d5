/**
 * Bytes a page and every worker it starts (workers of workers too: onnxruntime's wasm threads) receive
 * over HTTP, from the DevTools protocol's network events. WebSocket traffic (the swarm) has no such
 * events and is not counted: this is the weight of the page, not of training.
 *
 * Dedicated workers are CDP targets of their own, so the page's session does not see all their events.
 * Auto-attach (not flattened, as the wire recorder of harness.ts does) holds each new worker until its
 * Network domain is on, at every level, so no request goes uncounted.
 *
 * One request's events arrive on several sessions, so they are joined by request id, which Chromium makes
 * unique browser-wide ("<renderer pid>.<n>", or a GUID for requests the browser makes itself). Seen on
 * Chromium 14x: a worker's own script, which the browser fetches (PlzDedicatedWorker), has its
 * `requestWillBeSent` and raw response headers (`responseReceivedExtraInfo`) on the page's session, its
 * `loadingFinished` on the worker's (or none at all), and `encodedDataLength` counting the headers only.
 * A response with raw headers came over the network; when Chromium counted fewer bytes for it than its
 * `Content-Length`, the body it did not count is added.
 */
import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import { z } from 'zod';

/** One answered request, for the total and for checking it against what was served. */
export interface Fetched {
  url: string;
  /** As it came over the wire: a revalidated copy is a 304 here (Chromium reports the cached 200). */
  status: number;
  /** Bytes on the wire: headers and body as sent, compressed or not; 0 for an answer from a cache. */
  encodedBytes: number;
  /** The response's Content-Length and Content-Encoding, where it had them. */
  contentLength: number | undefined;
  contentEncoding: string | undefined;
  contentType: string | undefined;
  fromCache: boolean;
  /** When it finished (or, with no `loadingFinished`, was sent), in ms after the page's document request. */
  finishedMs: number;
}

const Headers = z.record(z.string(), z.string());
const RequestWillBeSent = z.object({
  requestId: z.string(),
  type: z.string().optional(),
  timestamp: z.number(),
  request: z.object({ url: z.string() }),
});
const ResponseReceived = z.object({
  requestId: z.string(),
  response: z.object({
    url: z.string(),
    status: z.number(),
    headers: Headers,
    fromDiskCache: z.boolean().optional(),
    fromPrefetchCache: z.boolean().optional(),
    fromServiceWorker: z.boolean().optional(),
  }),
});
const ExtraInfo = z.object({
  requestId: z.string(),
  statusCode: z.number(),
  headers: Headers,
  headersText: z.string().optional(),
});
const ServedFromCache = z.object({ requestId: z.string() });
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

/** What the events of one request have told so far, from whichever sessions they came. */
interface Seen {
  sent?: z.infer<typeof RequestWillBeSent>;
  response?: z.infer<typeof ResponseReceived>['response'];
  /** The raw response as received: present only for an answer that came over the network. */
  wire?: z.infer<typeof ExtraInfo>;
  servedFromCache?: boolean;
  finished?: z.infer<typeof LoadingFinished>;
}

function header(headers: Record<string, string> | undefined, name: string): string | undefined {
  return Object.entries(headers ?? {}).find(([k]) => k.toLowerCase() === name)?.[1];
}

/** Bytes of a raw header block: its text where Chromium gives it, else `Name: value\r\n` per header. */
function headerBytes(wire: z.infer<typeof ExtraInfo>): number {
  if (wire.headersText !== undefined) return wire.headersText.length;
  const lines = Object.entries(wire.headers).map(([k, v]) => `${k}: ${v}\r\n`);
  return `HTTP/1.1 ${wire.statusCode}\r\n`.length + lines.join('').length + 2;
}

export class NetworkTally {
  private readonly seen = new Map<string, Seen>();
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
      cdp.on(method, (params: unknown) => tally.event(true, method, params));
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
   * Every request answered since the last reset. Read when asked, not when each finished: CDP may
   * deliver a request's raw headers and cache flag after its `loadingFinished`.
   */
  requests(): readonly Fetched[] {
    const out: Fetched[] = [];
    for (const s of this.seen.values()) {
      const url = s.response?.url ?? s.sent?.request.url;
      if (url === undefined || !/^https?:/.test(url) || !(s.wire || s.finished)) continue;
      const headers = s.wire?.headers ?? s.response?.headers;
      const length = header(headers, 'content-length');
      const contentLength = length === undefined ? undefined : Number(length);
      const fromCache =
        s.wire === undefined &&
        Boolean(
          s.servedFromCache ||
          s.response?.fromDiskCache ||
          s.response?.fromPrefetchCache ||
          s.response?.fromServiceWorker ||
          s.finished,
        );
      let encodedBytes = s.finished?.encodedDataLength ?? 0;
      if (s.wire && contentLength !== undefined && encodedBytes < contentLength) {
        // The uncounted body of a worker's own script (see the top of this file).
        encodedBytes = Math.max(encodedBytes, headerBytes(s.wire)) + contentLength;
      }
      const at = s.finished?.timestamp ?? s.sent?.timestamp ?? this.documentSentAt;
      out.push({
        url,
        status: s.wire?.statusCode ?? s.response?.status ?? 0,
        encodedBytes,
        contentLength,
        contentEncoding: header(headers, 'content-encoding'),
        contentType: header(headers, 'content-type'),
        fromCache,
        finishedMs: (at - this.documentSentAt) * 1000,
      });
    }
    return out;
  }

  bytes(): number {
    return this.requests().reduce((sum, f) => sum + f.encodedBytes, 0);
  }

  /** Starts a new count (a second visit): forgets every request answered so far. */
  reset(): void {
    for (const [id, s] of this.seen) if (s.wire || s.finished) this.seen.delete(id);
  }

  private event(fromPage: boolean, method: string, params: unknown): void {
    const of = (requestId: string): Seen => {
      let s = this.seen.get(requestId);
      if (s === undefined) this.seen.set(requestId, (s = {}));
      return s;
    };
    if (method === 'Network.requestWillBeSent') {
      const sent = RequestWillBeSent.parse(params);
      if (fromPage && sent.type === 'Document') this.documentSentAt = sent.timestamp;
      of(sent.requestId).sent = sent;
    } else if (method === 'Network.responseReceivedExtraInfo') {
      const wire = ExtraInfo.parse(params);
      of(wire.requestId).wire = wire;
    } else if (method === 'Network.requestServedFromCache') {
      of(ServedFromCache.parse(params).requestId).servedFromCache = true;
    } else if (method === 'Network.responseReceived') {
      const { requestId, response } = ResponseReceived.parse(params);
      of(requestId).response = response;
    } else if (method === 'Network.loadingFinished') {
      const finished = LoadingFinished.parse(params);
      of(finished.requestId).finished = finished;
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
    else this.event(false, method, inner);
  }
}
