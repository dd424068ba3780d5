/** One error class per condition, told apart by a stable `name` (js-libp2p style). */

/** A record read back from IndexedDB does not have the shape this version of the page wrote. */
export class CorruptStorageError extends Error {
  static override name = 'CorruptStorageError';
  override name = 'CorruptStorageError';
}

/** A message between the page and its training worker failed its schema. */
export class InvalidWorkerMessageError extends Error {
  static override name = 'InvalidWorkerMessageError';
  override name = 'InvalidWorkerMessageError';
}

/** The volunteer tried to start without any non-empty text file. */
export class NoDataError extends Error {
  static override name = 'NoDataError';
  override name = 'NoDataError';
}
