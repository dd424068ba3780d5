/** One error class per condition, told apart by a stable `name` (js-libp2p style). */

/** A record read back from IndexedDB does not have the shape this version of the page wrote. */
export class CorruptStorageError extends Error {
  static override name = 'CorruptStorageError';
  override name = 'CorruptStorageError';
}

/** Another tab of this browser is already volunteering (they would share files, checkpoints and identity). */
export class AlreadyVolunteeringError extends Error {
  static override name = 'AlreadyVolunteeringError';
  override name = 'AlreadyVolunteeringError';
}

/** The volunteer tried to start without any non-empty text file. */
export class NoDataError extends Error {
  static override name = 'NoDataError';
  override name = 'NoDataError';
}

/** "Try the shared model" before the tab has joined the swarm (it holds no model to sample from yet). */
export class NoModelYetError extends Error {
  static override name = 'NoModelYetError';
  override name = 'NoModelYetError';
}
