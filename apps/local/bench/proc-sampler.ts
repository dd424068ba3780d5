/**
 * Memory and CPU of processes, read from Linux /proc while they run (no cooperation from the process):
 *
 *   VmHWM (status)        peak resident set; reset at the start of a window by writing 5 to clear_refs, so
 *                         the peak is the window's and not the start-up's (engine and model loading)
 *   VmRSS (status)        sampled every `intervalMs` too: the window's peak when the reset is refused
 *   utime + stime (stat)  CPU seconds of all the process's threads (the engine's thread included)
 */
import { readFile, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every Linux we run on). */
const TICKS = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

const KIB_PER_MIB = 1024;

async function statusKiB(pid: number, field: 'VmHWM' | 'VmRSS'): Promise<number | null> {
  try {
    const text = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) : null;
  } catch {
    return null; // the process is gone
  }
}

/** utime + stime in seconds, or null once the process is gone. */
export async function cpuSeconds(pid: number): Promise<number | null> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis are fixed.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS; // fields 14 and 15 of stat(5)
  } catch {
    return null;
  }
}

export interface WindowFigures {
  /** Peak resident set over the window, MiB. */
  peakRssMiB: number;
  cpuSeconds: number;
}

/** One process measured over a window: start() at its beginning, finish() at its end. */
export class ProcessWindow {
  private cpuAtStart = 0;
  private peakKiB = 0;
  private hwmReset = false;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    readonly pid: number,
    private readonly intervalMs = 500,
  ) {}

  async start(): Promise<void> {
    try {
      await writeFile(`/proc/${this.pid}/clear_refs`, '5');
      this.hwmReset = true;
    } catch {
      this.hwmReset = false; // not allowed here: the sampled VmRSS peak stands in
    }
    this.cpuAtStart = (await cpuSeconds(this.pid)) ?? 0;
    this.peakKiB = (await statusKiB(this.pid, 'VmRSS')) ?? 0;
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
  }

  private async sample(): Promise<void> {
    const rss = await statusKiB(this.pid, 'VmRSS');
    if (rss !== null) this.peakKiB = Math.max(this.peakKiB, rss);
  }

  async finish(): Promise<WindowFigures> {
    if (this.timer) clearInterval(this.timer);
    await this.sample();
    if (this.hwmReset) {
      const hwm = await statusKiB(this.pid, 'VmHWM');
      if (hwm !== null) this.peakKiB = Math.max(this.peakKiB, hwm);
    }
    const cpu = (await cpuSeconds(this.pid)) ?? this.cpuAtStart;
    return { peakRssMiB: this.peakKiB / KIB_PER_MIB, cpuSeconds: cpu - this.cpuAtStart };
  }
}
