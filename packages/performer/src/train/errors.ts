/** Trainer errors, one class per condition with a stable `name` and `code` (js-libp2p style). */

/** The trainer's configuration (model config, optimiser, start step) does not validate. */
export class TrainerConfigError extends Error {
  override readonly name = 'TrainerConfigError';
  readonly code = 'ERR_TRAINER_CONFIG';
}

/** A second step/evaluate/setParams was started before the running one finished. */
export class TrainerBusyError extends Error {
  override readonly name = 'TrainerBusyError';
  readonly code = 'ERR_TRAINER_BUSY';
  constructor() {
    super('the trainer is already running a step or an evaluation');
  }
}

/** evaluate() was given no sequences, so there is no loss to report. */
export class EmptyEvaluationError extends Error {
  override readonly name = 'EmptyEvaluationError';
  readonly code = 'ERR_EMPTY_EVALUATION';
  constructor() {
    super('evaluate() needs at least one sequence');
  }
}
