/**
 * The worker's local state on disk: `trainer.safetensors` (the performer checkpoint) and
 * `volunteer.json` (job, round, totals), each replaced atomically, so `kill -9` at any moment leaves a
 * readable pair behind. The checkpoint is written first: a crash between the two writes leaves a newer
 * checkpoint with an older record, which only understates the round (the swarm resynchronises it anyway).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@slimswarm/node-compat/fs';
import { VolunteerState, type SavedVolunteer, type VolunteerStore } from '@slimswarm/client';
import { IncompatibleCheckpointError } from './errors.js';

export function fileStore(dir: string): VolunteerStore {
  const checkpointPath = join(dir, 'trainer.safetensors');
  const statePath = join(dir, 'volunteer.json');
  return {
    async load() {
      let checkpoint: Buffer;
      let stateText: string;
      try {
        [checkpoint, stateText] = await Promise.all([readFile(checkpointPath), readFile(statePath, 'utf8')]);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw new IncompatibleCheckpointError(`cannot read ${dir}: ${(e as Error).message}`);
      }
      let raw: unknown;
      try {
        raw = JSON.parse(stateText);
      } catch {
        throw new IncompatibleCheckpointError(`${statePath} is not JSON`);
      }
      const state = VolunteerState.safeParse(raw);
      if (!state.success)
        throw new IncompatibleCheckpointError(`${statePath}: ${state.error.issues[0]?.message}`);
      return { checkpoint: new Uint8Array(checkpoint), state: state.data };
    },
    async save(saved: SavedVolunteer) {
      await writeFileAtomic(checkpointPath, saved.checkpoint);
      await writeFileAtomic(statePath, JSON.stringify(saved.state, null, 2) + '\n');
      return checkpointPath;
    },
  };
}
