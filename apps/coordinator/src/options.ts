/** Command-line flags of `slimswarm-coordinator`, parsed by commander and validated by zod. */
import { Command } from 'commander';
import { InvalidOptionError, parseCommandLine } from '@slimswarm/node-compat/cli';
import {
  IceServer,
  LoraConfig,
  MAX_DIFFICULTY_BITS,
  PROTOCOL_LIMITS,
  PrivacyConfig,
  type LoraTarget,
} from '@slimswarm/protocol';
import { z } from 'zod';
import {
  DEFAULT_BASE_PATH,
  DEFAULT_CHUNK,
  DEFAULT_DIFFICULTY_BITS,
  DEFAULT_MODEL,
  DEFAULT_SEQ_LEN,
} from '@slimswarm/default-job/job';
import { DEFAULT_FEATURES } from '@slimswarm/hf-import';
import { DEFAULT_LISTED_PER_PREFIX, MAX_LISTED_ADDRESSES } from './bootstrap-list.js';
import { DEFAULT_DASHBOARD_DIR, DEFAULT_WEB_DIR } from './bundled-pages.js';

/** The attention projections, as LoLCATs adapts them. */
const DEFAULT_LORA_TARGETS: readonly LoraTarget[] = ['q', 'k', 'v', 'o'];

export { InvalidOptionError };

export const CoordinatorOptions = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(0).max(65535),
    listen: z.array(z.string().startsWith('/')).min(1),
    base: z.string().min(1),
    manifest: z.string().min(1).optional(),
    /** A Hugging Face model folder to build the job from (manifest model, tokenizer and base). */
    model: z.string().min(1).optional(),
    /** With --model: the job's random features per head, sequence length, chunk size, feature seed. */
    features: z.number().int().positive().optional(),
    seqLen: z.number().int().positive().optional(),
    chunkSize: z.number().int().positive().optional(),
    /** With --model: local steps per round (a big model's step takes minutes; the default job's is 4). */
    localSteps: z.number().int().positive().optional(),
    seed: z.number().int().min(0).max(0xffffffff).optional(),
    /** With --model: the inner AdamW learning rate, and LoRA (rank, alpha, targets) on the frozen base. */
    lr: z.number().finite().gt(0).lte(1).optional(),
    lora: LoraConfig.optional(),
    /** An `hf` job's tokenizer.json and tokenizer_config.json, served by hash. */
    tokenizer: z.string().min(1).optional(),
    tokenizerConfig: z.string().min(1).optional(),
    /** The job's Ed25519 secret key file (created on first start); none: a key for this process only. */
    jobKey: z.string().min(1).optional(),
    /** One invite code per line, each traded once for a ticket at POST /api/ticket (invite jobs). */
    inviteCodes: z.string().min(1).optional(),
    /** The default job's proof-of-work difficulty (open admission; a manifest file names its own). */
    difficulty: z.number().int().min(0).max(MAX_DIFFICULTY_BITS),
    webDir: z.string().min(1),
    dashboardDir: z.string().min(1),
    /** STUN/TURN servers the job listing gives browser tabs for WebRTC between them. */
    iceServers: z.array(IceServer).max(PROTOCOL_LIMITS.maxIceServers),
    /** Peers /api/job lists per /24 (IPv4) or /48 (IPv6) of their observed address (bootstrap-list.ts). */
    listPerPrefix: z.number().int().min(1).max(MAX_LISTED_ADDRESSES),
    /**
     * User-level differential privacy (docs/privacy.md): every peer clips its round delta to L2 norm
     * dpClip and adds Gaussian noise of dpNoise · dpClip; peers report ε at dpDelta. All three or none.
     */
    dpNoise: PrivacyConfig.shape.noiseMultiplier.optional(),
    dpClip: PrivacyConfig.shape.clipNorm.optional(),
    dpDelta: PrivacyConfig.shape.delta.optional(),
    json: z.boolean(),
  })
  .strict()
  .refine(
    (o) => [o.dpNoise, o.dpClip, o.dpDelta].every((v) => v === undefined) || privacyOf(o) !== undefined,
    { message: '--dp-noise, --dp-clip and --dp-delta go together', path: ['dpNoise'] },
  );
export type CoordinatorOptions = z.infer<typeof CoordinatorOptions>;

/** The job's privacy from the --dp-* flags; undefined unless all three are given. */
export function privacyOf(o: {
  dpNoise?: number | undefined;
  dpClip?: number | undefined;
  dpDelta?: number | undefined;
}): PrivacyConfig | undefined {
  if (o.dpNoise === undefined || o.dpClip === undefined || o.dpDelta === undefined) return undefined;
  return { mechanism: 'gaussian', noiseMultiplier: o.dpNoise, clipNorm: o.dpClip, delta: o.dpDelta };
}

/** A number flag's value, or NaN for text that is not one (so zod names the flag). */
const real = (value: unknown): number | undefined =>
  value === undefined ? undefined : /^[0-9.eE+-]+$/.test(String(value)) ? Number(value) : NaN;

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

const count = (value: unknown): number | undefined =>
  value === undefined ? undefined : /^\d+$/.test(String(value)) ? Number(value) : NaN;

/** --model replaces --base, --manifest and the tokenizer files; the flags that shape its job mean nothing without it. */
function modelFlags(raw: Record<string, unknown>): Record<string, unknown> {
  const shaping = [
    'features',
    'seqLen',
    'chunkSize',
    'localSteps',
    'seed',
    'lr',
    'lora',
    'loraAlpha',
    'loraTargets',
  ].filter((k) => raw[k] !== undefined);
  if (raw['model'] === undefined && shaping.length > 0) {
    throw new InvalidOptionError(
      `--${shaping[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --model`,
    );
  }
  const given = ['base', 'manifest', 'tokenizer', 'tokenizerConfig'].filter((k) => raw[k] !== undefined);
  if (raw['model'] !== undefined && given.length > 0) {
    throw new InvalidOptionError(
      '--model builds the manifest, base and tokenizer itself: give it without --base, --manifest, --tokenizer and --tokenizer-config',
    );
  }
  return {
    base: raw['base'] ?? DEFAULT_BASE_PATH,
    features: count(raw['features']),
    seqLen: count(raw['seqLen']),
    chunkSize: count(raw['chunkSize']),
    localSteps: count(raw['localSteps']),
    seed: count(raw['seed']),
    lr: raw['lr'] === undefined ? undefined : Number(raw['lr']),
    lora: loraOf(raw),
  };
}

/** --lora <rank> [--lora-alpha a] [--lora-targets q,k,v,o]: alpha defaults to 2·rank (a common choice). */
function loraOf(raw: Record<string, unknown>): unknown {
  if (raw['lora'] === undefined) {
    if (raw['loraAlpha'] !== undefined || raw['loraTargets'] !== undefined)
      throw new InvalidOptionError('--lora-alpha and --lora-targets need --lora <rank>');
    return undefined;
  }
  const rank = count(raw['lora']);
  return {
    rank,
    alpha: raw['loraAlpha'] === undefined ? 2 * (rank ?? 0) : Number(raw['loraAlpha']),
    targets: String(raw['loraTargets'] ?? DEFAULT_LORA_TARGETS.join(','))
      .split(',')
      .map((t) => t.trim()),
  };
}

export function parseCoordinatorArgs(argv: readonly string[]): CoordinatorOptions {
  const program = new Command('slimswarm-coordinator')
    .description(
      'Publish a job, bootstrap and relay peers, serve the web app and dashboard. Runs no model compute.',
    )
    .option('--host <host>', 'HTTP host', '127.0.0.1')
    .option('--port <port>', 'HTTP port (0: any free port)', '8700')
    .option('--listen <multiaddr>', 'libp2p listen address (repeatable)', collect)
    .option('--base <file>', `base checkpoint (safetensors; default ${DEFAULT_BASE_PATH})`)
    .option('--manifest <file>', 'job manifest JSON (default: the embedded default job)')
    .option(
      '--model <folder>',
      'build the job from a Hugging Face model folder (Llama, Qwen2, GPT-2: config.json, safetensors, tokenizer.json) instead of --base and --manifest',
    )
    .option('--features <m>', `with --model: FAVOR+ random features per head (default ${DEFAULT_FEATURES})`)
    .option(
      '--seq-len <tokens>',
      `with --model: training sequence length (default ${DEFAULT_SEQ_LEN}, at most the model's learned positions)`,
    )
    .option('--chunk-size <tokens>', `with --model: SLiM chunk size (default ${DEFAULT_CHUNK})`)
    .option('--local-steps <n>', 'with --model: local steps per round (default 4)')
    .option('--seed <n>', `with --model: seed of the random features (default ${DEFAULT_MODEL.seed})`)
    .option('--lr <lr>', "with --model: the inner AdamW learning rate (default 3e-3, the default job's)")
    .option(
      '--lora <rank>',
      'with --model: freeze the base and train rank-r LoRA adapters (the deltas carry only them)',
    )
    .option('--lora-alpha <alpha>', 'with --lora: the LoRA scale numerator (default 2 × rank)')
    .option(
      '--lora-targets <list>',
      `with --lora: the adapted matrices among q,k,v,o,gate,up,down (default ${DEFAULT_LORA_TARGETS.join(',')})`,
    )
    .option('--tokenizer <file>', "the tokenizer.json a manifest's hf tokenizer names (served by its hash)")
    .option('--tokenizer-config <file>', "the tokenizer_config.json a manifest's hf tokenizer names, if any")
    .option('--job-key <file>', 'the job key (Ed25519 secret, created if missing; default: a throwaway key)')
    .option(
      '--difficulty <bits>',
      "the default job's admission price: leading zero bits of each identity's proof of work",
      String(DEFAULT_DIFFICULTY_BITS),
    )
    .option(
      '--invite-codes <file>',
      'invite codes, one per line, each traded once for an admission ticket (makes the default job invite-only)',
    )
    .option('--web-dir <dir>', 'built volunteer page', DEFAULT_WEB_DIR)
    .option('--dashboard-dir <dir>', 'built dashboard', DEFAULT_DASHBOARD_DIR)
    .option(
      '--ice-servers <url>',
      'STUN/TURN URL tabs use to reach each other over WebRTC (repeatable; none: same network only)',
      collect,
    )
    .option(
      '--list-per-prefix <n>',
      'peers /api/job lists per /24 (IPv4) or /48 (IPv6) network, loopback excepted',
      String(DEFAULT_LISTED_PER_PREFIX),
    )
    .option(
      '--dp-noise <z>',
      'user-level differential privacy: Gaussian noise of z × the clip norm on every delta (with --dp-clip and --dp-delta)',
    )
    .option('--dp-clip <C>', 'with --dp-noise: the L2 norm every round delta is clipped to')
    .option('--dp-delta <δ>', 'with --dp-noise: the δ at which peers report their ε (at most 1e-2)')
    .option('--json', 'print JSON lines', false);
  return parseCommandLine(program, argv, CoordinatorOptions, ({ loraAlpha, loraTargets, ...raw }) => ({
    ...raw,
    ...modelFlags({ ...raw, loraAlpha, loraTargets }),
    port: /^\d+$/.test(String(raw.port)) ? Number(raw.port) : NaN,
    listPerPrefix: /^\d+$/.test(String(raw.listPerPrefix)) ? Number(raw.listPerPrefix) : NaN,
    difficulty: /^\d+$/.test(String(raw.difficulty)) ? Number(raw.difficulty) : NaN,
    listen: raw.listen ?? ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'],
    iceServers: ((raw.iceServers as string[] | undefined) ?? []).map((urls) => ({ urls })),
    dpNoise: real(raw.dpNoise),
    dpClip: real(raw.dpClip),
    dpDelta: real(raw.dpDelta),
  }));
}
