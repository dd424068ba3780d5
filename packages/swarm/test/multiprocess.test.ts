import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('./fixtures/process-peer.ts', import.meta.url));
const children: ChildProcessWithoutNullStreams[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

interface Child {
  proc: ChildProcessWithoutNullStreams;
  addrs: Promise<string[]>;
  last: { round: number; sha256: string } | null;
  connections: string[];
}

function start(index: number, peers: number, rounds: number): Child {
  const proc = spawn(process.execPath, [
    '--conditions=@slimswarm/source',
    '--import',
    'tsx',
    script,
    JSON.stringify({ index, peers, rounds, params: 3000 }),
  ]);
  children.push(proc);
  const child: Child = { proc, addrs: new Promise(() => {}), last: null, connections: [] };
  child.addrs = new Promise((resolve) => {
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const msg = JSON.parse(line) as {
        addrs?: string[];
        round?: number;
        sha256?: string;
        connections?: string[];
      };
      if (msg.addrs) resolve(msg.addrs);
      else if (msg.connections) child.connections = msg.connections;
      else if (msg.round !== undefined) child.last = { round: msg.round, sha256: msg.sha256! };
    });
  });
  proc.stderr.on('data', (d: Buffer) => process.stderr.write(d));
  return child;
}

describe('separate OS processes over loopback TCP and WebSocket', () => {
  it('3 processes reach bitwise-identical replicas (same model hash)', async () => {
    const rounds = 4;
    const kids = [0, 1, 2].map((i) => start(i, 3, rounds));
    const addrs = await Promise.all(kids.map((k) => k.addrs));
    const tcp = (a: string[]) => a.find((x) => !x.includes('/ws'))!;
    const ws = (a: string[]) => a.find((x) => x.includes('/ws'))!;
    expect(ws(addrs[2]!)).toMatch(/\/ws\/p2p\//);
    // 0–1 over TCP, 0–2 over TCP, 1–2 over WebSocket.
    kids[0]!.proc.stdin.write(`${JSON.stringify({ dial: [tcp(addrs[1]!), tcp(addrs[2]!)] })}\n`);
    kids[1]!.proc.stdin.write(`${JSON.stringify({ dial: [ws(addrs[2]!)] })}\n`);
    kids[2]!.proc.stdin.write(`${JSON.stringify({ dial: [] })}\n`);
    const end = Date.now() + 60_000;
    const done = () => kids.every((k) => k.last?.round === rounds && k.last.sha256 === kids[0]!.last?.sha256);
    while (!done() && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    expect(kids.map((k) => k.last)).toEqual(Array(3).fill(kids[0]!.last));
    expect(kids[0]!.last?.round).toBe(rounds);
    await Promise.all(
      kids.map(
        (k) =>
          new Promise<void>((resolve) => {
            k.proc.on('exit', () => resolve());
            k.proc.stdin.write(`${JSON.stringify({ stop: true })}\n`);
          }),
      ),
    );
    // Both transports carried the swarm: process 1 reached process 2 over WebSocket, the rest over TCP.
    expect(kids[1]!.connections.some((a) => a.includes('/ws'))).toBe(true);
    // … and process 0 reached both others over plain TCP (the addresses it dialed, without /p2p/…).
    const dialedOverTcp = [addrs[1]!, addrs[2]!].map((a) => tcp(a).split('/p2p/')[0]!);
    for (const address of dialedOverTcp)
      expect(kids[0]!.connections.some((a) => a.startsWith(address) && !a.includes('/ws'))).toBe(true);
  });
});
