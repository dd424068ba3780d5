// Run by the pack check inside its install folder, with the installed packages only: writes the manifest of
// a quick job for the installed coordinator (--manifest). It is the default job (model, base checkpoint,
// compression, merge) under the job key in argv[2], with a round cut to one local step of 256 tokens and
// admission at 8 bits: the check is that an installed worker completes a round, which the default job's
// four 2048-token steps would only make slower. Usage: node quick-job.mjs <job key file> <manifest file>
import process from 'node:process';
import { loadJob, loadOrCreateJobKey } from '@slimswarm/coordinator';
import { DEFAULT_BASE_PATH } from '@slimswarm/default-job/job';
import { writeFileAtomic } from '@slimswarm/node-compat/fs';

const [keyPath, manifestPath] = process.argv.slice(2);
if (keyPath === undefined || manifestPath === undefined) {
  process.stderr.write('usage: node quick-job.mjs <job key file> <manifest file>\n');
  process.exit(2);
}
const key = await loadOrCreateJobKey(keyPath);
const { manifest } = await loadJob({
  basePath: DEFAULT_BASE_PATH,
  key,
  admission: { mode: 'open', difficultyBits: 8 },
});
const quick = {
  ...manifest,
  title: `${manifest.title} (pack check: one 256-token step per round)`,
  training: { ...manifest.training, seqLen: 256, localSteps: 1 },
};
await writeFileAtomic(manifestPath, JSON.stringify(quick, null, 2) + '\n');
