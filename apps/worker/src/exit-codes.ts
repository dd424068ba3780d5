/** Exit statuses of slimswarm-generate and slimswarm-export: done; failed; bad flags; stopped by Ctrl-C (128 + SIGINT, as shells count it). */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;
