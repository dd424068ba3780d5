/**
 * The whole system as users run it: a coordinator and three workers as separate OS processes on loopback,
 * on the default job `npm start` runs (2048-token sequences of a 3.2 M-parameter model). Held-out loss falls below the base model's; a worker killed with SIGKILL restarts from its checkpoint
 * and contributes again while the others never stop; the coordinator never contributes a delta, and its
 * own counters show it relayed gossip without merging, accepting or resynchronising anything.
 * Every process's output and events go to artifacts/local-e2e.log, for whoever has to find out why.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { VolunteerEvent } from '@slimswarm/client';
import { CoordinatorStats } from '@slimswarm/coordinator';
import { REPO_ROOT, type JsonChild } from '../src/processes.js';
import { prepareCorpus, startLocalSwarm, type LocalSwarm } from '../src/local-swarm.js';

type Of<E extends VolunteerEvent['event']> = Extract<VolunteerEvent, { event: E }>;
const is =
  <E extends VolunteerEvent['event']>(event: E, where: (e: Of<E>) => boolean = () => true) =>
  (e: VolunteerEvent): e is Of<E> =>
    e.event === event && where(e as Of<E>);

describe('local swarm end to end', () => {
  let swarm: LocalSwarm | undefined;
  let dir: string | undefined;
  const output: string[] = [];
  const started = Date.now();
  const record = (label: string, line: string): void => {
    output.push(`${((Date.now() - started) / 1000).toFixed(1)}s [${label}] ${line}`);
  };
  const watch = (w: JsonChild<VolunteerEvent>): void =>
    w.onEvent((e) => {
      if (e.event !== 'step') record(w.label, JSON.stringify(e));
    });

  afterAll(async () => {
    await swarm?.stop();
    await mkdir(join(REPO_ROOT, 'artifacts'), { recursive: true });
    await writeFile(join(REPO_ROOT, 'artifacts', 'local-e2e.log'), output.join('\n') + '\n');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(
    'trains on 2048-token sequences, learns, survives kill -9 of a worker, and the coordinator computes nothing',
    // The default job's rounds take about a minute on two cores (README): the waits below are in rounds.
    { timeout: 1_200_000 },
    async () => {
      dir = await mkdtemp(join(tmpdir(), 'slimswarm-e2e-'));
      const corpus = await prepareCorpus({ outDir: join(dir, 'corpus'), shards: 3 });
      swarm = await startLocalSwarm({
        peers: 3,
        corpus,
        outDir: join(dir, 'peers'),
        port: 0,
        threadsPerWorker: 1,
        // Scored every other round, so the learning check below comes two rounds in.
        evalEvery: 2,
        log: record,
      });
      swarm.workers.forEach(watch);
      const [w0, w1, w2] = swarm.workers as [
        JsonChild<VolunteerEvent>,
        JsonChild<VolunteerEvent>,
        JsonChild<VolunteerEvent>,
      ];

      // Scoring the base takes worker 0 about 90 s alone on one thread (2026-12-08), longer beside the
      // other workers and test files: 120 s failed a CI run.
      const base = await w0.waitFor(
        is('eval', (e) => e.round === 0),
        300_000,
      );
      // npm start's default job trains on long texts: each local step is one sequence of ≥ 2048 tokens.
      const firstRound = await w0.waitFor(is('round'), 240_000);
      const ready0 = await w0.waitFor(is('ready'), 1);
      expect(firstRound.tokens / ready0.localSteps).toBeGreaterThanOrEqual(2048);
      const learnt = await w0.waitFor(
        is('eval', (e) => e.round >= 2),
        300_000,
      );
      expect(learnt.heldOutLoss).toBeLessThan(base.heldOutLoss);

      // Kill worker 2 without warning once it has a checkpoint on disk, then start it again.
      const saved = await w2.waitFor(is('checkpoint'), 120_000);
      const ready2 = await w2.waitFor(is('ready'), 1);
      await w2.kill();
      record('test', `killed worker-2 after its checkpoint at step ${saved.step}`);
      const lastRoundBefore = Math.max(-1, ...w1.events.filter(is('round')).map((e) => e.round));
      const restarted = swarm.startWorker(2);
      watch(restarted);
      const resumed = await restarted.waitFor(is('ready'), 120_000);
      expect(resumed.peerId).toBe(ready2.peerId); // same identity, read back from its checkpoint dir
      expect(resumed.resumedFromStep).toBeGreaterThanOrEqual(saved.step);

      // It rejoins and contributes: a later round merged by worker 0 lists it among the contributors.
      const merged = await w0.waitFor(
        is('round', (e) => e.contributors.includes(ready2.peerId) && e.round > saved.round),
        300_000,
      );
      expect(merged.accepted).toBeGreaterThanOrEqual(2);
      // The others never stopped: worker 1 closes rounds past the one it was in at the kill (its event
      // for the round worker 0 just reported may come a moment later, hence the wait).
      await w1.waitFor(
        is('round', (e) => e.round > lastRoundBefore),
        60_000,
      );
      expect(w0.process.exitCode).toBeNull();
      expect(w1.process.exitCode).toBeNull();

      // No round, on any worker, merged a delta from the coordinator.
      const listening = swarm.coordinator.events.find((e) => e.event === 'listening');
      const coordinatorId = listening?.event === 'listening' ? listening.peerId : '';
      expect(coordinatorId).not.toBe('');
      const contributors = swarm.workers.flatMap((w) =>
        w.events.filter(is('round')).flatMap((e) => e.contributors),
      );
      expect(contributors.length).toBeGreaterThan(0);
      expect(contributors).not.toContain(coordinatorId);
      // Its own counters: it relayed the job's deltas and heartbeats, and merged, accepted, resynced nothing.
      const stats = CoordinatorStats.parse(await (await fetch(new URL('/api/stats', swarm.url))).json());
      record('test', `coordinator stats ${JSON.stringify(stats)}`);
      expect(stats.relayed.deltas).toBeGreaterThan(0);
      expect(stats.relayed.heartbeats).toBeGreaterThan(0);
      expect(stats.swarm).toEqual({ accepted: 0, roundsClosed: 0, resyncs: 0 });
    },
  );
});
