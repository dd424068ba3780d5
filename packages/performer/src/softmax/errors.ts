/** The teacher graph implements the Llama/Qwen2 families (SwiGLU, RoPE); another config is refused. */
export class UnsupportedTeacherError extends Error {
  override readonly name = 'UnsupportedTeacherError';
  readonly code = 'ERR_UNSUPPORTED_TEACHER';
  constructor(what: string) {
    super(`the softmax teacher does not implement ${what}`);
  }
}
