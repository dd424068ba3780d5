/** One error class per condition, told apart by a stable `name` (js-libp2p style). */

/** The coordinator could not be reached or did not answer with a valid job listing. */
export class JobUnavailableError extends Error {
  static override name = 'JobUnavailableError';
  override name = 'JobUnavailableError';
}

/** The job listing names no address a browser can dial (it needs a WebSocket multiaddr). */
export class NoBrowserAddressError extends Error {
  static override name = 'NoBrowserAddressError';
  override name = 'NoBrowserAddressError';
}
