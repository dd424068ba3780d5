/** A mechanism or query parameter outside the range the accountant's formulas hold for. */
export class InvalidPrivacyParameterError extends Error {
  override readonly name = 'InvalidPrivacyParameterError';
}
