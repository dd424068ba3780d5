/** Checkpoint errors, one class per condition with a stable `name` and `code` (js-libp2p style). */

/**
 * The bytes are not a checkpoint of ours: not valid safetensors (the protocol error is the `cause`), not in
 * the canonical encoding, bad metadata, or tensors missing, extra, or of the wrong dtype or shape.
 */
export class CheckpointFormatError extends Error {
  override readonly name = 'CheckpointFormatError';
  readonly code = 'ERR_CHECKPOINT_FORMAT';
}

/** A valid checkpoint, but of another model than the caller expects. */
export class CheckpointConfigMismatchError extends Error {
  override readonly name = 'CheckpointConfigMismatchError';
  readonly code = 'ERR_CHECKPOINT_CONFIG_MISMATCH';
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`checkpoint is for model ${actual}, expected ${expected}`);
  }
}

/** A valid checkpoint, but with other adapters (or none, or on another base) than the caller expects. */
export class CheckpointLoraMismatchError extends Error {
  override readonly name = 'CheckpointLoraMismatchError';
  readonly code = 'ERR_CHECKPOINT_LORA_MISMATCH';
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`checkpoint holds ${actual}, expected adapters ${expected}`);
  }
}

/** The bytes' SHA-256 is not the one the caller expects (corrupted or substituted file). */
export class CheckpointHashMismatchError extends Error {
  override readonly name = 'CheckpointHashMismatchError';
  readonly code = 'ERR_CHECKPOINT_HASH_MISMATCH';
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`checkpoint SHA-256 is ${actual}, expected ${expected}`);
  }
}
