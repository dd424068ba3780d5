/** @slimswarm/attacks — the standard poisoning attacks, and an in-process run of the swarm's merge under them. */
export * from './attacks.js';
export { inverseNormal } from './inverse-normal.js';
export * from './simulation.js';
export { synthetic, type SyntheticOptions } from './problems/synthetic.js';
export { performer, TINY_PERFORMER, type PerformerOptions } from './problems/performer.js';
export * from './privacy/token-recovery.js';
export * from './privacy/round-leak.js';
export * from './privacy/canary.js';
export * from './privacy/private-rounds.js';
