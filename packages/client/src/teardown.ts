/** What a session (or a model fetch) started, undone in reverse order whatever happens. */
import { logger } from '@libp2p/logger';

const log = logger('slimswarm:client:teardown');

/** Steps run once each, newest first; every step runs even when one before it fails. */
export class Teardown {
  private readonly steps: { what: string; undo: () => unknown }[] = [];

  add(what: string, undo: () => unknown): void {
    this.steps.push({ what, undo });
  }

  /** Runs (once) every step, newest first; then throws the first failure, if any. */
  async run(): Promise<void> {
    let failure: { err: unknown } | null = null;
    for (const { what, undo } of this.steps.splice(0).reverse()) {
      try {
        await undo();
      } catch (err) {
        log.error('stopping the %s failed: %e', what, err);
        failure ??= { err };
      }
    }
    if (failure) throw failure.err;
  }

  /**
   * Runs `work`, then the teardown. When `work` failed, its failure is what the user needs to see: a
   * teardown failure after it is only logged.
   */
  async around<T>(work: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await work();
    } catch (err) {
      await this.run().catch((e: unknown) => log.error('teardown after a failure: %e', e));
      throw err;
    }
    await this.run();
    return result;
  }
}
