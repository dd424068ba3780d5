/**
 * How a worker shows its progress: on a terminal a live status bar (cli-progress) over the round's local
 * steps with loss, held-out loss, tokens/s, peers and memory; otherwise (pipes, CI, the local launcher)
 * one JSON line per event, the same `VolunteerEvent` objects the launcher parses back.
 */
import { SingleBar } from 'cli-progress';
import { describeScrubCounts, type ScrubCounts, type VolunteerEvent } from '@slimswarm/client';

export interface Display {
  show(event: VolunteerEvent): void;
  stop(): void;
}

export function jsonDisplay(write: (line: string) => void = (l) => process.stdout.write(l)): Display {
  return { show: (event) => write(JSON.stringify(event) + '\n'), stop: () => {} };
}

const MiB = 1024 * 1024;

/** In a private job: the ε this worker's releases spent so far (its own figure, as the heartbeat's). */
export function privacyNote(event: {
  epsilon?: number | undefined;
  privacyReleases?: number | undefined;
}): string {
  if (event.epsilon === undefined) return '';
  return ` · privacy ε ${event.epsilon.toFixed(2)} after ${event.privacyReleases ?? 0} releases`;
}

/** The counts of local PII scrubbing, for this volunteer's eyes (they never go on the wire). */
export function scrubNote(counts: ScrubCounts): string {
  return `scrubbed before training: ${describeScrubCounts(counts)}`;
}

export function terminalDisplay(): Display {
  let localSteps = 1;
  const bar = new SingleBar({
    format:
      'round {round} |{bar}| step {value}/{total} · loss {loss} · held-out {heldOut} · {tps} tok/s · {peers} peers · {mem} MiB',
    barCompleteChar: '█',
    barIncompleteChar: '░',
    hideCursor: true,
    clearOnComplete: false,
  });
  const payload = { round: 0, loss: '–', heldOut: '–', tps: 0, peers: 0, mem: 0 };
  let started = false;
  const log = (line: string): void => {
    if (started) bar.stop();
    process.stdout.write(line + '\n');
    if (started) bar.start(localSteps, 0, payload);
  };
  return {
    show(event) {
      switch (event.event) {
        case 'ready':
          localSteps = event.localSteps;
          log(`peer ${event.peerId} · ${event.params.toLocaleString()} parameters · engine ${event.engine}`);
          break;
        case 'synced':
          log(`synced round ${event.round} (${event.modelSha256.slice(0, 12)}) from ${event.source}`);
          break;
        case 'eval':
          payload.heldOut = event.heldOutLoss.toFixed(3);
          break;
        case 'step':
          payload.round = event.round;
          payload.loss = event.loss.toFixed(3);
          payload.tps = Math.round(event.tokensPerSec);
          payload.mem = Math.round(process.memoryUsage().rss / MiB);
          if (!started) {
            bar.start(localSteps, 0, payload);
            started = true;
          }
          bar.update(event.localStep, payload);
          break;
        case 'round':
          payload.peers = event.peers;
          payload.mem = Math.round(event.memoryBytes / MiB);
          log(
            `round ${event.round} closed · ${event.accepted} deltas merged · mean loss ${event.meanLoss.toFixed(3)} · model ${event.modelSha256.slice(0, 12)}${privacyNote(event)}`,
          );
          break;
        case 'scrubbed':
          // Once per run, when the first pass over the text is done (the counts grow until then).
          if (event.complete) log(scrubNote(event.counts));
          break;
        case 'checkpoint':
          break;
        case 'stopped':
          log(`stopped (${event.reason}) at round ${event.round}, step ${event.step}`);
          break;
        case 'error':
          log(`${event.name}: ${event.message}`);
          break;
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
