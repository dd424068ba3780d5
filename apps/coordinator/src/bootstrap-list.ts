/**
 * Which peers `/api/job` hands newcomers. The listing is how a newcomer meets the swarm, so it must not be
 * capturable: a peer's self-announced (identify) addresses are unverified, and one attacker with many
 * identities could otherwise fill every slot with addresses it chose. So the coordinator lists
 *
 *  - only peers it is connected to, ordered by the age of their oldest connection: a fresh flood of
 *    identities queues behind the peers that were there before it;
 *  - of a peer's announced addresses only those on the IP the coordinator observes its connection from
 *    (an inbound connection's own address has an ephemeral port, so it cannot be dialled back as is), and
 *    of relayed addresses only a browser tab's WebRTC address through this coordinator's own relay, for a
 *    tab that holds a reservation here;
 *  - at most `perPrefix` peers per network prefix of that observed IP (/24 for IPv4, /48 for IPv6), so
 *    identities on one network share a few slots. Loopback peers run on this machine and are not capped
 *    (a local swarm of workers and tabs all shares 127.0.0.1).
 */

/** How many addresses the listing holds in all (the job listing's schema allows 64). */
export const MAX_LISTED_ADDRESSES = 32;
/** Default peers listed per /24 (IPv4) or /48 (IPv6). */
export const DEFAULT_LISTED_PER_PREFIX = 2;

/** One connected peer as the coordinator sees it. */
export interface ConnectedPeer {
  peer: string;
  /** When its oldest open connection opened (ms). */
  since: number;
  /** Remote addresses of its direct (not relayed) connections, as observed by this coordinator. */
  observed: string[];
  /** What it announced over identify (listen addresses, without /p2p/<peer>). */
  announced: string[];
  /** Whether it holds a circuit-relay reservation on this coordinator. */
  reserved: boolean;
}

export interface ListingOptions {
  /** This coordinator's own addresses, each ending in /p2p/<coordinator>: always listed first. */
  own: string[];
  perPrefix?: number;
  maxAddresses?: number;
}

/** The addresses to list: ours first, then connected peers' checked addresses, oldest peer first. */
export function bootstrapListing(peers: readonly ConnectedPeer[], opts: ListingOptions): string[] {
  const perPrefix = opts.perPrefix ?? DEFAULT_LISTED_PER_PREFIX;
  const out = [...opts.own];
  const taken = new Map<string, number>();
  for (const p of [...peers].sort((a, b) => a.since - b.since)) {
    const addrs = listable(p, opts.own);
    const prefix = prefixOf(p.observed[0]);
    if (addrs.length === 0 || prefix === null) continue;
    const n = taken.get(prefix) ?? 0;
    if (n >= perPrefix && prefix !== LOOPBACK) continue;
    taken.set(prefix, n + 1);
    out.push(...addrs.map((a) => `${a}/p2p/${p.peer}`));
  }
  return out.slice(0, opts.maxAddresses ?? MAX_LISTED_ADDRESSES);
}

/** A peer's announced addresses that check out against what the coordinator observes of it. */
function listable(p: ConnectedPeer, own: readonly string[]): string[] {
  const ips = new Set(p.observed.map((a) => ipOf(a)?.ip));
  return p.announced.filter((a) => {
    if (a.includes('/p2p-circuit')) {
      // A tab's WebRTC address through our relay: the relay part must be one of our own addresses.
      const [relay, rest] = a.split('/p2p-circuit');
      return p.reserved && rest === '/webrtc' && own.includes(relay!);
    }
    const ip = ipOf(a)?.ip;
    return ip !== undefined && ips.has(ip);
  });
}

const LOOPBACK = 'loopback';

/** The network prefix an observed address belongs to (/24, /48), LOOPBACK, or null without an IP. */
export function prefixOf(addr: string | undefined): string | null {
  const found = addr === undefined ? null : ipOf(addr);
  if (!found) return null;
  if (found.family === 4) {
    const octets = found.ip.split('.');
    return octets[0] === '127' ? LOOPBACK : `${octets.slice(0, 3).join('.')}.0/24`;
  }
  const groups = expandIPv6(found.ip);
  if (groups === null) return null;
  if (groups.every((g, i) => (i < 7 ? g === 0 : g === 1))) return LOOPBACK;
  return `${groups
    .slice(0, 3)
    .map((g) => g.toString(16))
    .join(':')}::/48`;
}

function ipOf(addr: string): { family: 4 | 6; ip: string } | null {
  const m = /^\/(ip4|ip6)\/([^/]+)/.exec(addr);
  if (!m) return null;
  return { family: m[1] === 'ip4' ? 4 : 6, ip: m[1] === 'ip6' ? m[2]!.toLowerCase() : m[2]! };
}

/** The eight 16-bit groups of an IPv6 address (`::` expanded), or null if it is not one. */
function expandIPv6(ip: string): number[] | null {
  const [head, tail, ...more] = ip.split('::');
  if (more.length > 0) return null;
  const parse = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const [h, t] = [parse(head), parse(tail)];
  const groups = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff)
    ? groups
    : null;
}
