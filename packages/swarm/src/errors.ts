/**
 * One error class per condition, each with a stable `name` that callers may check
 * (the js-libp2p convention of packages/interface/src/errors.ts).
 */

/** The peer configuration failed validation. */
export class InvalidPeerConfigError extends Error {
  static override name = 'InvalidPeerConfigError';
  override name = 'InvalidPeerConfigError';
}

/** The identity key file exists but cannot be read as a libp2p private key. */
export class InvalidIdentityFileError extends Error {
  static override name = 'InvalidIdentityFileError';
  override name = 'InvalidIdentityFileError';
}

/** The peer's key is not Ed25519, the only kind deltas are signed with. */
export class UnsupportedKeyTypeError extends Error {
  static override name = 'UnsupportedKeyTypeError';
  override name = 'UnsupportedKeyTypeError';
}

/** A delta payload does not decode under its codec (lengths, indices, counts). */
export class DeltaDecodeError extends Error {
  static override name = 'DeltaDecodeError';
  override name = 'DeltaDecodeError';
}

/** Weights given to the swarm do not match the model layout (names, shapes, sizes). */
export class ModelLayoutError extends Error {
  static override name = 'ModelLayoutError';
  override name = 'ModelLayoutError';
}

/** The initial weights do not hash to the manifest's base checkpoint. */
export class BaseModelMismatchError extends Error {
  static override name = 'BaseModelMismatchError';
  override name = 'BaseModelMismatchError';
}

/** A weight-sync exchange failed: the remote had nothing, was busy, or sent a bad or mismatched model. */
export class WeightSyncError extends Error {
  static override name = 'WeightSyncError';
  override name = 'WeightSyncError';
}

/** A synced history does not replay: a record's deltas are refused, or their merge is not the model it names. */
export class ReplayError extends Error {
  static override name = 'ReplayError';
  override name = 'ReplayError';
}

/** An inbound stream did not open with the request its protocol expects. */
export class UnexpectedRequestError extends Error {
  static override name = 'UnexpectedRequestError';
  override name = 'UnexpectedRequestError';
}

/** An anti-entropy pull failed or answered with something that was not asked for. */
export class DeltaPullError extends Error {
  static override name = 'DeltaPullError';
  override name = 'DeltaPullError';
}

/** The injected trainer returned weights that do not fit the model or contain NaN/Inf. */
export class InvalidTrainerOutputError extends Error {
  static override name = 'InvalidTrainerOutputError';
  override name = 'InvalidTrainerOutputError';
}

/** The service was used before start() or after stop(). */
export class NotStartedError extends Error {
  static override name = 'NotStartedError';
  override name = 'NotStartedError';
}

/**
 * contribute() was given a snapshot older than the job's `maxStaleness` allows (or of a model this replica
 * no longer holds, e.g. before a resync): the delta would be stale.
 */
export class StaleContributionError extends Error {
  static override name = 'StaleContributionError';
  override name = 'StaleContributionError';
}

/** This peer already contributed a delta to the round; a second one would be an equivocation. */
export class AlreadyContributedError extends Error {
  static override name = 'AlreadyContributedError';
  override name = 'AlreadyContributedError';
}

/** No connected peer could provide the current model. */
export class NoSyncSourceError extends Error {
  static override name = 'NoSyncSourceError';
  override name = 'NoSyncSourceError';
}

/** This peer's own delta exceeds the manifest's norm bound, so every other peer would reject it. */
export class DeltaNormExceededError extends Error {
  static override name = 'DeltaNormExceededError';
  override name = 'DeltaNormExceededError';
}

/** The job manifest failed validation, or createSwarmReplica got neither weights nor syncFromPeers. */
export class InvalidManifestError extends Error {
  static override name = 'InvalidManifestError';
  override name = 'InvalidManifestError';
}

/** Gossipsub does not expose the score parameters the job's topics are added to (gossip-scoring.ts). */
export class GossipScoringError extends Error {
  static override name = 'GossipScoringError';
  override name = 'GossipScoringError';
}

/** This peer's own admission stamp does not admit it to the job (or an invite job was joined without one). */
export class NotAdmittedError extends Error {
  static override name = 'NotAdmittedError';
  override name = 'NotAdmittedError';
}

/** A delta payload cannot be cut into gossip parts that fit the gossip frame limit. */
export class PayloadTooLargeError extends Error {
  static override name = 'PayloadTooLargeError';
  override name = 'PayloadTooLargeError';
}
