// The polyfills libp2p needs on Node 20 must be installed before anything imports libp2p.
import '@slimswarm/node-compat';
import { parseCoordinatorArgs, type CoordinatorOptions } from './options.js';
import { isHelpExit } from '@slimswarm/node-compat/cli';
import { startCoordinator } from './coordinator.js';
import type { CoordinatorEvent } from './events.js';
import { issueTicketFromCli, parseTicketArgs } from './ticket-cli.js';

function print(options: CoordinatorOptions, event: CoordinatorEvent, human: string): void {
  process.stdout.write(options.json ? JSON.stringify(event) + '\n' : human + '\n');
}

/** `slimswarm-coordinator ticket …`: prints one admission ticket as JSON. */
async function ticket(argv: readonly string[]): Promise<number> {
  try {
    const grant = await issueTicketFromCli(parseTicketArgs(argv));
    process.stdout.write(JSON.stringify(grant) + '\n');
    return 0;
  } catch (e) {
    if (isHelpExit(e)) return 0;
    const err = e as Error;
    process.stderr.write(`slimswarm-coordinator ticket: ${err.name}: ${err.message}\n`);
    return err.name === 'InvalidOptionError' ? 2 : 1;
  }
}

async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === 'ticket') return ticket(argv.slice(1));
  let options: CoordinatorOptions;
  try {
    options = parseCoordinatorArgs(argv);
  } catch (e) {
    if (isHelpExit(e)) return 0;
    const err = e as Error;
    process.stderr.write(`slimswarm-coordinator: ${err.message}\n`);
    return 2;
  }
  let coordinator;
  try {
    coordinator = await startCoordinator(options);
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`slimswarm-coordinator: ${err.name}: ${err.message}\n`);
    return 1;
  }
  const { manifest, http } = coordinator;
  print(
    options,
    {
      event: 'listening',
      http: http.url,
      peerId: coordinator.peer.peerId.toString(),
      multiaddrs: coordinator.multiaddrs(),
      jobId: manifest.jobId,
      baseSha256: manifest.baseCheckpoint.sha256,
    },
    `job ${manifest.jobId} · volunteer page ${http.url} · dashboard ${http.url}dashboard/\n` +
      coordinator
        .multiaddrs()
        .map((a) => `  libp2p ${a}`)
        .join('\n'),
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await coordinator.stop();
  print(options, { event: 'stopped', reason: 'signal' }, 'coordinator stopped');
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
