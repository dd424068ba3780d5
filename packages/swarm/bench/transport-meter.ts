/**
 * Bytes a node takes in off its connections, as the transport carries them: encrypted, with the muxer's
 * framing, gossipsub's control messages and every duplicate copy of a message that gossipsub drops
 * before our validator sees it (the swarm's own frame counters see each message once). libp2p hands
 * each new connection to `metrics.trackMultiaddrConnection`; this meter counts its 'message' events and
 * records nothing else.
 *
 * Written here because the libp2p metrics packages (prometheus, simple-metrics) are not dependencies of
 * ours and either would record far more than one number per node.
 */
import type { Metrics, MultiaddrConnection } from '@libp2p/interface';

/**
 * Any metric libp2p or gossipsub registers: each method, and the metric itself called (a timer's stop),
 * records nothing. It has no `then`, so nothing takes it for a promise.
 */
const ignored: unknown = new Proxy(() => {}, {
  get: (_, name) => (name === 'then' ? undefined : () => ignored),
  apply: () => ignored,
});

export class TransportMeter {
  /** Bytes received over every connection so far. */
  received = 0;

  /** The libp2p `metrics` option: one meter per node. */
  readonly metrics = (): Metrics => {
    const register = () => ignored;
    return {
      trackMultiaddrConnection: (c: MultiaddrConnection) =>
        c.addEventListener('message', (e) => (this.received += e.data.byteLength)),
      trackProtocolStream: () => {},
      registerMetric: register,
      registerMetricGroup: register,
      registerCounter: register,
      registerCounterGroup: register,
      registerHistogram: register,
      registerHistogramGroup: register,
      registerSummary: register,
      registerSummaryGroup: register,
      traceFunction: (_name: string, fn: unknown) => fn,
      createTrace: () => undefined,
    } as unknown as Metrics;
  };
}
