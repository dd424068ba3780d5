/** Version of every message and frame this package defines. Bump on any incompatible change. */
export const PROTOCOL_VERSION = 6;

/**
 * Hard ceilings that hold before a manifest is known. A manifest may only tighten them (see
 * `limitsFromManifest`); decoders check every length, count and dimension against these.
 */
export const PROTOCOL_LIMITS = {
  /** Gossipsub silently drops anything over 4 MiB; stay well below it. */
  maxGossipFrameBytes: 1 << 20,
  /** Frames sent over a stream protocol (weight sync, anti-entropy pulls). */
  maxStreamFrameBytes: 256 << 20,
  /** Frame header (message JSON + tensor table); the largest anti-entropy summary takes 123 KiB. */
  maxHeaderBytes: 256 << 10,
  maxTensorsPerFrame: 1024,
  maxTensorRank: 4,
  maxTensorDim: 1 << 28,
  /** Elements of one tensor; a manifest lowers it to the model's parameter count. */
  maxTensorElements: 1 << 28,
  maxNameLength: 200,
  maxJobIdLength: 64,
  maxPeersListed: 256,
  /** STUN/TURN servers a job listing may name for WebRTC between browsers. */
  maxIceServers: 8,
  maxSummaryEntries: 512,
  /** Gossip slices of one delta payload (each names its digest in every part's header). */
  maxDeltaParts: 4096,
  maxRound: 2 ** 40,
  /** Rounds a delta's base may lag the round it joins (a manifest's `round.maxStaleness`). */
  maxStaleness: 8,
  maxParams: 1 << 28,
  /** A job's tokenizer.json (and its tokenizer_config.json); real ones are a few MB. */
  maxTokenizerBytes: 64 << 20,
  /** A JSON answer of the coordinator's HTTP API (the job listing, a ticket); real ones are a few KiB. */
  maxApiJsonBytes: 1 << 20,
} as const;

export type ProtocolLimits = { -readonly [K in keyof typeof PROTOCOL_LIMITS]: number };

/** libp2p protocol ids and gossip topics, namespaced by protocol version and job. */
export const PROTOCOL_IDS = {
  weightSync: `/slimswarm/weight-sync/${PROTOCOL_VERSION}.0.0`,
  antiEntropy: `/slimswarm/anti-entropy/${PROTOCOL_VERSION}.0.0`,
} as const;

export const topics = {
  deltas: (jobId: string): string => `/slimswarm/${PROTOCOL_VERSION}/${jobId}/deltas`,
  heartbeat: (jobId: string): string => `/slimswarm/${PROTOCOL_VERSION}/${jobId}/heartbeat`,
  summaries: (jobId: string): string => `/slimswarm/${PROTOCOL_VERSION}/${jobId}/summaries`,
  manifest: (jobId: string): string => `/slimswarm/${PROTOCOL_VERSION}/${jobId}/manifest`,
  /** `equivocation-evidence` frames: proofs that an author signed two deltas for one round. */
  evidence: (jobId: string): string => `/slimswarm/${PROTOCOL_VERSION}/${jobId}/evidence`,
};
