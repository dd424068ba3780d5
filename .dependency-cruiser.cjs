// @ts-check
/**
 * Import rules of docs/architecture.md ("may import" column), checked by `npm run lint:imports`
 * (part of `npm run lint`, so CI runs it).
 *
 * Workspaces import each other by package name; the resolver below follows the package.json "exports"
 * (whose "@slimswarm/source" condition points at the TypeScript sources) and the node_modules/@slimswarm/* symlinks to their real paths,
 * so every rule sees `protocol/src/index.ts`, not `@slimswarm/protocol`. Rules therefore name folders,
 * and catch a relative import into another workspace just like an import by name.
 */

/** Folder of every workspace (a module path starting with one of these belongs to that workspace). */
const WORKSPACE = '^(protocol|packages/[^/]+|apps/[^/]+)/';
const OUR_MODULES = [WORKSPACE, '^@slimswarm/'];

/**
 * The performer's entry points (the files its package.json "exports" name). Another workspace can only
 * reach the performer through one of them (relative imports across workspaces are forbidden below), so
 * the reachability rule looks for these instead of listing every performer file a path passes through.
 */
const PERFORMER_EXPORTS = require('./packages/performer/package.json').exports;
const entryPattern = (/** @type {unknown} */ file) =>
  `^packages/performer/${String(file).replace(/^\.\//, '').replace(/[.]/g, '\\.')}$`;
/**
 * Every entry but `./weights` (parameter names and shapes, base-checkpoint bytes: no engine, no
 * onnxruntime), which the coordinator reaches through hf-import to turn a model folder into a base.
 */
const PERFORMER_ENTRIES = Object.entries(PERFORMER_EXPORTS)
  .filter(([subpath]) => subpath !== './weights')
  .map(([, conditions]) => entryPattern(conditions['@slimswarm/source']));

/** Network stacks the performer must not know. */
const NETWORK = [
  '(^|node_modules/)libp2p(/|$)',
  '(^|node_modules/)@libp2p/',
  '(^|node_modules/)@chainsafe/',
  '(^|node_modules/)@multiformats/',
  '^packages/swarm/',
  '^packages/client/',
  '^@slimswarm/(swarm|client)(/|$)',
];

/** The model (and what drives it) the swarm must not know. */
const MODEL = [
  '^packages/performer/',
  '^packages/client/',
  '^@slimswarm/(performer|client)(/|$)',
  '(^|node_modules/)onnxruntime-web(/|$)',
];

/**
 * The workspaces each workspace may import (its "may import" row, plus node-compat for Node entry
 * points, as the node-compat row says). `extra` holds what only some of its files may import.
 * @type {Array<{ name: string, dir: string, may: string[], extra?: Array<{ from: string, may: string[] }> }>}
 */
const ROWS = [
  // protocol/: see protocol-imports-nothing-of-ours below.
  { name: 'node-compat', dir: 'packages/node-compat', may: [] },
  { name: 'plots', dir: 'packages/plots', may: [] },
  { name: 'privacy', dir: 'packages/privacy', may: [] },
  {
    name: 'performer',
    dir: 'packages/performer',
    may: ['protocol', 'packages/node-compat'],
    // Benchmarks measure the job's model and the wire size of its deltas.
    extra: [
      {
        from: '^packages/performer/bench/',
        may: ['packages/plots', 'packages/default-job', 'packages/swarm'],
      },
    ],
  },
  {
    name: 'swarm',
    dir: 'packages/swarm',
    // packages/privacy: a private job's replica accounts the ε its own releases spend (privacy-budget.ts).
    may: ['protocol', 'packages/node-compat', 'packages/privacy'],
    extra: [{ from: '^packages/swarm/bench/', may: ['packages/plots'] }],
  },
  {
    name: 'attacks',
    dir: 'packages/attacks',
    may: ['protocol', 'packages/swarm', 'packages/performer', 'packages/default-job', 'packages/node-compat'],
    // The privacy bench calibrates its noise to ε targets with the accountant.
    extra: [{ from: '^packages/attacks/bench/', may: ['packages/plots', 'packages/privacy'] }],
  },
  {
    name: 'client',
    dir: 'packages/client',
    // packages/privacy: both shells' text is scrubbed of PII in one place, before tokenising (local-text.ts).
    may: ['protocol', 'packages/performer', 'packages/swarm', 'packages/privacy'],
  },
  {
    name: 'default-job',
    dir: 'packages/default-job',
    may: ['protocol', 'packages/performer', 'packages/node-compat'],
  },
  {
    name: 'hf-import',
    dir: 'packages/hf-import',
    may: ['protocol', 'packages/performer', 'packages/node-compat'],
  },
  {
    name: 'coordinator',
    dir: 'apps/coordinator',
    // The performer only through its weights entry (see coordinator-and-dashboard-never-reach-the-performer).
    may: [
      'protocol',
      'packages/swarm',
      'packages/default-job',
      'packages/hf-import',
      'packages/performer',
      'packages/node-compat',
    ],
  },
  {
    name: 'worker',
    dir: 'apps/worker',
    may: ['packages/client', 'packages/performer', 'packages/swarm', 'packages/node-compat'],
    // Its end-to-end tests start a real coordinator on a job of their own, which they build and sign.
    extra: [{ from: '^apps/worker/test/', may: ['apps/coordinator', 'protocol'] }],
  },
  {
    name: 'local',
    dir: 'apps/local',
    // The demo's centralized baseline trains the job's model itself, with the performer's engine.
    may: [
      'protocol',
      'apps/coordinator',
      'apps/worker',
      'packages/client',
      'packages/performer',
      'packages/default-job',
      'packages/node-compat',
      'packages/plots',
    ],
    // The live attack benchmark's attacker joins a swarm as a peer of its own, with the swarm's own code.
    extra: [{ from: '^apps/local/bench/', may: ['packages/swarm'] }],
  },
  {
    // The tab's row says "client"; its compute Web Worker serves the performer's engine and the page
    // runs the swarm peer, so those (and protocol) are allowed too. Its end-to-end tests drive the
    // coordinator through apps/local's child-process helper and build a job from default-job.
    name: 'web',
    dir: 'apps/web',
    may: ['packages/client', 'protocol', 'packages/performer', 'packages/swarm', 'packages/theme'],
    extra: [
      { from: '^apps/web/test/', may: ['apps/local', 'apps/coordinator', 'packages/default-job'] },
      // The scale bench drives a coordinator and a worker around the page, on a model folder it writes.
      {
        from: '^apps/web/bench/',
        may: ['apps/local', 'apps/coordinator', 'packages/default-job', 'packages/hf-import'],
      },
    ],
  },
  { name: 'dashboard', dir: 'apps/dashboard', may: ['protocol', 'packages/swarm', 'packages/theme'] },
  {
    // Runs the installed packages as child processes; of ours it takes only the event schemas it reads
    // back (client's, the coordinator's) and node-compat.
    name: 'pack-check',
    dir: 'apps/pack-check',
    may: ['packages/client', 'apps/coordinator', 'packages/node-compat'],
    // The scripts it copies into the install folder import the installed packages there (here they
    // resolve to ours).
    extra: [
      {
        from: '^apps/pack-check/installed/',
        may: ['packages/performer', 'apps/coordinator', 'packages/default-job', 'packages/node-compat'],
      },
    ],
  },
];

/** @returns {import('dependency-cruiser').IForbiddenRuleType[]} */
function rowRules() {
  return ROWS.flatMap(({ name, dir, may, extra = [] }) => {
    const own = [`^${dir}/`, ...may.map((d) => `^${d}/`), '(^|/)node_modules/'];
    const extraFrom = extra.map((e) => e.from);
    return [
      {
        name: `${name}-imports-only-its-row`,
        comment: `${dir}/ may import (of ours) only: ${may.join(', ') || 'nothing'} (docs/architecture.md)`,
        severity: /** @type {const} */ ('error'),
        from: { path: `^${dir}/`, pathNot: extraFrom },
        to: { path: OUR_MODULES, pathNot: own },
      },
      ...extra.map((e) => ({
        name: `${name}-imports-only-its-row`,
        comment: `${e.from} may import (of ours) only: ${[...may, ...e.may].join(', ')}`,
        severity: /** @type {const} */ ('error'),
        from: { path: e.from },
        to: { path: OUR_MODULES, pathNot: [...own, ...e.may.map((d) => `^${d}/`)] },
      })),
    ];
  });
}

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'No import cycles anywhere in our sources (type-only imports count).',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-unresolvable',
      comment:
        'Every import resolves (an unresolved workspace import would escape the rules below). ' +
        "Vite's `?url` imports of onnxruntime-web's files (a URL, not a module) are resolved by Vite. " +
        "A package's bin/ scripts import its dist/ build, which exists only after `npm run build`.",
      severity: 'error',
      from: { pathNot: '^apps/[^/]+/bin/[^/]+\\.js$' },
      to: { couldNotResolve: true, pathNot: '^onnxruntime-web/[\\w.-]+\\?url$' },
    },
    {
      name: 'workspaces-import-each-other-by-name',
      comment:
        'A workspace imports another one by package name (@slimswarm/x, through its package.json "exports"), ' +
        'never by a relative path into its folder.',
      severity: 'error',
      from: { path: WORKSPACE },
      to: { dependencyTypes: ['local'], path: WORKSPACE, pathNot: '^$1/' },
    },
    {
      name: 'protocol-imports-nothing-of-ours',
      comment: 'protocol/ imports nothing of ours: no @slimswarm/*, no relative import leaving protocol/.',
      severity: 'error',
      from: { path: '^protocol/' },
      to: { path: OUR_MODULES, pathNot: '^protocol/' },
    },
    {
      name: 'protocol-src-only-zod-and-noble',
      comment:
        'protocol/src may import zod, @noble/hashes and @noble/curves only (no Node built-ins: it runs in browsers).',
      severity: 'error',
      from: { path: '^protocol/src/' },
      to: { pathNot: ['^protocol/', '(^|/)node_modules/(zod|@noble/hashes|@noble/curves)/'] },
    },
    {
      name: 'performer-knows-no-network',
      comment:
        "packages/performer knows no network: no libp2p, @libp2p/*, @chainsafe/*, @multiformats/*, swarm, client. Its benchmarks (not the library) may size a delta with the swarm's codec.",
      severity: 'error',
      from: { path: '^packages/performer/', pathNot: '^packages/performer/bench/' },
      to: { path: NETWORK },
    },
    {
      name: 'swarm-knows-no-model',
      comment: 'packages/swarm knows no model: no performer, onnxruntime-web, client.',
      severity: 'error',
      from: { path: '^packages/swarm/' },
      to: { path: MODEL },
    },
    {
      name: 'packages-never-import-apps',
      comment: 'Packages (protocol, packages/*) never import apps/*.',
      severity: 'error',
      from: { path: '^(protocol|packages)/' },
      to: { path: ['^apps/', '^@slimswarm/(coordinator|worker|local|web|dashboard)(/|$)'] },
    },
    {
      name: 'coordinator-and-dashboard-never-reach-the-performer',
      comment:
        'apps/coordinator and apps/dashboard run no model: they never reach the performer (but its weights ' +
        'entry: names, shapes, base bytes) or onnxruntime-web, not even through another workspace ' +
        "(packages/default-job's index re-exports performer code; take @slimswarm/default-job/job instead).",
      severity: 'error',
      from: { path: '^apps/(coordinator|dashboard)/' },
      to: { path: [...PERFORMER_ENTRIES, '(^|node_modules/)onnxruntime-web(/|$)'], reachable: true },
    },
    ...rowRules(),
  ],
  options: {
    // node_modules is never scanned (doNotFollow also keeps it out of the initial file list), but the npm
    // packages our files import stay in the graph as leaves, so the rules above can name them.
    doNotFollow: { path: '(^|/)node_modules/' },
    // Only our own build output: npm packages' entry points often live in their dist/ folders, and
    // excluding those would drop the very imports the rules look for.
    exclude: { path: '^(protocol|packages/[^/]+|apps/[^/]+)/(dist|\\.turbo)/' },
    tsPreCompilationDeps: true,
    preserveSymlinks: false,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      // '@slimswarm/source' first: our workspaces resolve to their sources, as in tests and typechecks.
      conditionNames: ['@slimswarm/source', 'import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};
