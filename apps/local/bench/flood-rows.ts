/**
 * The figures of one resource-flood row from what its processes reported, and the row itself:
 *
 *   {bench: 'attack-resource', attack, seconds, honestPeers, peakRssMiB, peakRssDeltaMiB, cpuSeconds,
 *    roundLatencyP50Ms, latencyRatioVsClean, rounds, resyncs, adoptedForgeries, …}
 *
 * Round latency is the wall time from one round event of a worker to its next (local steps, publish and
 * the wait for the round to close): the intervals that end inside the window, and for a worker that closed
 * no round in it, the time its round had been open at the window's end (a lower bound: a round held open
 * past the window is the attack's effect, not a missing figure).
 */
import type { WindowFigures } from './proc-sampler.js';

export interface WorkerTimeline {
  /** Wall times (ms) of its round events, and the rounds they closed. */
  rounds: { round: number; at: number }[];
  /** Its 'synced' events after the start: resyncs, with the model each adopted. */
  resyncs: { modelSha256: string; at: number }[];
}

export interface AttackerFigures {
  sybils: number;
  connections: number;
  messages: number;
  bytesOut: number;
  bytesIn: number;
  streams: number;
  streamFailures: number;
  cpuSeconds: number;
  forged: string[];
}

export interface Measured {
  attack: string;
  seconds: number;
  workers: { window: WindowFigures; timeline: WorkerTimeline }[];
  window: { from: number; to: number };
  attacker: AttackerFigures | null;
}

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Round intervals ending in [from, to], and the open round of a worker that closed none (see above). */
export function roundLatencies(timelines: readonly WorkerTimeline[], from: number, to: number): number[] {
  const out: number[] = [];
  for (const t of timelines) {
    const times = t.rounds.map((r) => r.at);
    let closed = 0;
    for (let i = 1; i < times.length; i++) {
      if (times[i]! > from && times[i]! <= to) {
        out.push(times[i]! - times[i - 1]!);
        closed++;
      }
    }
    const last = times.filter((x) => x <= to).at(-1);
    if (closed === 0 && last !== undefined) out.push(to - last);
  }
  return out;
}

/** Distinct rounds any worker closed inside the window. */
export function roundsClosed(timelines: readonly WorkerTimeline[], from: number, to: number): number {
  const rounds = new Set<number>();
  for (const t of timelines) for (const r of t.rounds) if (r.at > from && r.at <= to) rounds.add(r.round);
  return rounds.size;
}

const mib1 = (x: number): number => Math.round(x * 10) / 10;
const r2 = (x: number): number => Math.round(x * 100) / 100;

export interface Row {
  bench: 'attack-resource';
  attack: string;
  seconds: number;
  honestPeers: number;
  peakRssMiB: number;
  peakRssDeltaMiB: number;
  cpuSeconds: number;
  roundLatencyP50Ms: number | null;
  latencyRatioVsClean: number | null;
  rounds: number;
  resyncs: number;
  adoptedForgeries: number;
  /** Beyond the row itself: what the figures rest on. The median hides a few stalled rounds; the max shows them. */
  roundLatencyMaxMs: number | null;
  cpuSecondsVsClean: number | null;
  attackerCpuSeconds: number | null;
  sybils: number;
  connections: number;
  attackerMessages: number;
  attackerMiBOut: number;
  attackerMiBIn: number;
  attackerStreams: number;
}

export function toRow(m: Measured, clean: Measured | null): Row {
  const timelines = m.workers.map((w) => w.timeline);
  const peak = Math.max(...m.workers.map((w) => w.window.peakRssMiB));
  const cpu = m.workers.reduce((s, w) => s + w.window.cpuSeconds, 0);
  const latencies = roundLatencies(timelines, m.window.from, m.window.to);
  const p50 = median(latencies);
  const cleanPeak = clean ? Math.max(...clean.workers.map((w) => w.window.peakRssMiB)) : peak;
  const cleanCpu = clean ? clean.workers.reduce((s, w) => s + w.window.cpuSeconds, 0) : cpu;
  const cleanP50 = clean
    ? median(
        roundLatencies(
          clean.workers.map((w) => w.timeline),
          clean.window.from,
          clean.window.to,
        ),
      )
    : p50;
  const resyncs = timelines.flatMap((t) => t.resyncs);
  const forged = new Set(m.attacker?.forged ?? []);
  const a = m.attacker;
  return {
    bench: 'attack-resource',
    attack: m.attack,
    seconds: m.seconds,
    honestPeers: m.workers.length,
    peakRssMiB: mib1(peak),
    peakRssDeltaMiB: mib1(peak - cleanPeak),
    cpuSeconds: r2(cpu),
    roundLatencyP50Ms: p50 === null ? null : Math.round(p50),
    latencyRatioVsClean: p50 !== null && cleanP50 ? r2(p50 / cleanP50) : null,
    rounds: roundsClosed(timelines, m.window.from, m.window.to),
    resyncs: resyncs.length,
    adoptedForgeries: resyncs.filter((r) => forged.has(r.modelSha256)).length,
    roundLatencyMaxMs: latencies.length > 0 ? Math.round(Math.max(...latencies)) : null,
    cpuSecondsVsClean: cleanCpu > 0 ? r2(cpu / cleanCpu) : null,
    attackerCpuSeconds: a ? r2(a.cpuSeconds) : null,
    sybils: a?.sybils ?? 0,
    connections: a?.connections ?? 0,
    attackerMessages: a?.messages ?? 0,
    attackerMiBOut: a ? mib1(a.bytesOut / 2 ** 20) : 0,
    attackerMiBIn: a ? mib1(a.bytesIn / 2 ** 20) : 0,
    attackerStreams: a?.streams ?? 0,
  };
}

/** One human line per row. */
export function describe(row: Row): string {
  const ratio = row.latencyRatioVsClean === null ? '' : ` (×${row.latencyRatioVsClean})`;
  return (
    `${row.attack.padEnd(22)} ${row.seconds} s, ${row.honestPeers} workers: peak RSS ${row.peakRssMiB} MiB ` +
    `(${row.peakRssDeltaMiB >= 0 ? '+' : ''}${row.peakRssDeltaMiB}), CPU ${row.cpuSeconds} s, ` +
    `round p50 ${row.roundLatencyP50Ms ?? '–'} ms${ratio}, ${row.rounds} rounds, ${row.resyncs} resyncs, ` +
    `${row.adoptedForgeries} forgeries adopted`
  );
}
