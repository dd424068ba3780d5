// The polyfills must come first in every Node entry point.
import '@slimswarm/node-compat';
import { fileURLToPath } from 'node:url';
import { isHelpExit } from '@slimswarm/node-compat/cli';
import { parsePackCheckArgs, type PackCheckFlags } from './options.js';
import { packCheck } from './pack-check.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

async function main(argv: readonly string[]): Promise<number> {
  let flags: PackCheckFlags;
  try {
    flags = parsePackCheckArgs(argv);
  } catch (e) {
    if (isHelpExit(e)) return 0;
    process.stderr.write(`pack:check: ${(e as Error).message}\n`);
    return 2;
  }
  try {
    await packCheck({
      root: ROOT,
      skipBuild: flags.skipBuild,
      keep: flags.keep,
      roundTimeoutMs: flags.roundTimeout * 1000,
      job: flags.job,
      say: (line) => process.stdout.write(`pack:check: ${line}\n`),
    });
    return 0;
  } catch (e) {
    process.stderr.write(`pack:check failed: ${(e as Error).name}: ${(e as Error).message}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
