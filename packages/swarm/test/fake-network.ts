/**
 * An in-memory SwarmNetwork for unit tests of the swarm's parts: no libp2p node, no transport. Every
 * network on one hub sees every other; gossip is delivered on a microtask (judged by the receiver's topic
 * handler, refusals counted as the real service counts them), streams are pairs of frame queues.
 */
import { defaultLogger } from '@libp2p/logger';
import type { PeerRole } from '@slimswarm/protocol';
import { SwarmTimings } from '../src/peer-config.js';
import { SwarmEvents } from '../src/events.js';
import type {
  FrameStream,
  GossipIn,
  GossipVerdict,
  StreamHandler,
  StreamProtocol,
  SwarmNetwork,
} from '../src/network.js';
import { SwarmCounters } from '../src/stats.js';
import type { Identity } from './identities.js';

export const FAKE_TIMINGS = SwarmTimings.parse({
  heartbeatIntervalMs: 100,
  antiEntropyIntervalMs: 150,
  tickMs: 10,
  streamTimeoutMs: 2_000,
});

export class FakeHub {
  readonly networks = new Map<string, FakeNetwork>();
  /** Messages in flight; `settled()` waits for them. */
  private inFlight = 0;
  private idle: (() => void)[] = [];
  /** Peer id -> its side of a partition; null: everyone reaches everyone. */
  private sides: Map<string, number> | null = null;

  /** Cuts the hub into `groups` (peer ids) that no longer reach each other; null heals it. */
  partition(groups: string[][] | null): void {
    this.sides = groups && new Map(groups.flatMap((g, i) => g.map((id) => [id, i] as const)));
  }

  linked(a: string, b: string): boolean {
    return !this.sides || this.sides.get(a) === this.sides.get(b);
  }

  join(who: Identity, role: PeerRole = 'worker', timings: SwarmTimings = FAKE_TIMINGS): FakeNetwork {
    const net = new FakeNetwork(this, who, role, timings);
    this.networks.set(net.selfId, net);
    return net;
  }

  deliver(run: () => void): void {
    this.inFlight++;
    queueMicrotask(() => {
      try {
        run();
      } finally {
        if (--this.inFlight === 0) for (const wake of this.idle.splice(0)) wake();
      }
    });
  }

  /** Resolves once no gossip message is in flight. */
  settled(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((r) => this.idle.push(r));
  }
}

export class FakeNetwork implements SwarmNetwork {
  readonly events = new SwarmEvents();
  readonly counters = new SwarmCounters(this.events);
  readonly logger = defaultLogger();
  readonly selfId: string;
  readonly signDelta: Identity['sign'];
  /** Gossip this network published, by topic (what an attacker would see of it). */
  readonly published: { topic: string; frame: Uint8Array }[] = [];
  private readonly topics = new Map<string, (msg: GossipIn) => GossipVerdict>();
  private readonly handlers = new Map<StreamProtocol, StreamHandler>();
  private readonly stopHooks = new Set<() => Promise<void>>();

  constructor(
    private readonly hub: FakeHub,
    who: Identity,
    readonly role: PeerRole,
    readonly timings: SwarmTimings,
  ) {
    this.selfId = who.id;
    this.signDelta = who.sign;
  }

  subscribe(topic: string, handle: (msg: GossipIn) => GossipVerdict): void {
    this.topics.set(topic, handle);
  }

  unsubscribe(topic: string): void {
    this.topics.delete(topic);
  }

  /** Hands `frame` to this network's handler of `topic` as if `from` had gossiped it. */
  receive(topic: string, from: string, frame: Uint8Array): GossipVerdict | null {
    const handle = this.topics.get(topic);
    if (!handle) return null;
    this.counters.bytes(frame.length, 0);
    const v = handle({ from, data: frame });
    if (v.action !== 'accept') this.counters.refused(from, v);
    return v;
  }

  async publish(topic: string, frame: Uint8Array): Promise<void> {
    this.published.push({ topic, frame });
    this.counters.bytes(0, frame.length);
    for (const other of this.hub.networks.values())
      if (other !== this && this.hub.linked(this.selfId, other.selfId))
        this.hub.deliver(() => other.receive(topic, this.selfId, frame));
  }

  async dial(
    peer: string,
    protocol: StreamProtocol,
    _signal: AbortSignal,
    maxFrameBytes = Infinity,
  ): Promise<FrameStream> {
    const handler = this.hub.linked(this.selfId, peer)
      ? this.hub.networks.get(peer)?.handlers.get(protocol)
      : undefined;
    if (!handler) throw new Error(`${peer} does not serve ${protocol}`);
    const [mine, theirs] = framePipe(this.counters, this.hub.networks.get(peer)!.counters, maxFrameBytes);
    void handler(theirs, this.selfId).catch(() => theirs.close(AbortSignal.timeout(1)));
    return mine;
  }

  serve(protocol: StreamProtocol, handler: StreamHandler | null): void {
    if (handler) this.handlers.set(protocol, handler);
    else this.handlers.delete(protocol);
  }

  onStop(hook: () => Promise<void>): () => void {
    this.stopHooks.add(hook);
    return () => this.stopHooks.delete(hook);
  }

  async stop(): Promise<void> {
    for (const hook of [...this.stopHooks]) await hook();
    this.hub.networks.delete(this.selfId);
  }

  connectedPeers(): string[] {
    return [...this.hub.networks.keys()].filter(
      (id) => id !== this.selfId && this.hub.linked(this.selfId, id),
    );
  }

  webRtcPeers(): string[] {
    return [];
  }
}

/**
 * Two ends of one stream: what one writes the other reads; close ends the writer's direction, abort both.
 * The dialling end `a` refuses frames over `maxFrameBytesA` as the real stream does, before counting them.
 */
export function framePipe(
  a: SwarmCounters,
  b: SwarmCounters,
  maxFrameBytesA = Infinity,
): [FrameStream, FrameStream] {
  const toA = new FrameQueue();
  const toB = new FrameQueue();
  const end = (inbox: FrameQueue, outbox: FrameQueue, counters: SwarmCounters, max: number): FrameStream => ({
    async read() {
      const f = await inbox.take();
      // What lpStream throws for a length prefix over its maxDataLength.
      if (f && f.length > max)
        throw Object.assign(new Error(`frame of ${f.length} bytes > ${max}`), {
          name: 'InvalidDataLengthError',
        });
      if (f) counters.bytes(f.length, 0);
      return f;
    },
    async write(frame) {
      counters.bytes(0, frame.length);
      outbox.put(frame);
    },
    async close() {
      outbox.put(null);
    },
    abort() {
      outbox.put(null);
      inbox.put(null);
    },
  });
  return [end(toA, toB, a, maxFrameBytesA), end(toB, toA, b, Infinity)];
}

class FrameQueue {
  private readonly items: (Uint8Array | null)[] = [];
  private readonly takers: ((f: Uint8Array | null) => void)[] = [];
  private closed = false;

  put(frame: Uint8Array | null): void {
    if (this.closed) return;
    if (frame === null) this.closed = true;
    const taker = this.takers.shift();
    if (taker) taker(frame);
    else this.items.push(frame);
  }

  take(): Promise<Uint8Array | null> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift()!);
    if (this.closed) return Promise.resolve(null);
    return new Promise((r) => this.takers.push(r));
  }
}
