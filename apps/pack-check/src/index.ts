/** The install test of the published packages (`npm run pack:check`), as a library for its tests. */
export { packCheck, type PackCheckOptions } from './pack-check.js';
export { parsePackCheckArgs, PackCheckFlags } from './options.js';
export {
  workspaces,
  publishedWorkspaces,
  PackageManifest,
  UnpublishedDependencyError,
  type Workspace,
} from './manifests.js';
export { packWorkspaces, installTarballs, installedPackages, directoryBytes, PackedTarball } from './npm.js';
export { cleanEnv, run, runOk, startJsonLines, ChildProcessError, type JsonLinesChild } from './processes.js';
export {
  startInstalledCoordinator,
  fetchPages,
  runWorkerRound,
  performerGradient,
  helpText,
  GradientReport,
  type CheckJob,
} from './installed.js';
