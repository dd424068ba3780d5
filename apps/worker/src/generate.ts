/**
 * `slimswarm-generate`: continues a prompt with a slimswarm model — the swarm's current shared model
 * (`--coordinator`) or a checkpoint — with performer's recurrent decoder, printing the text as tokens are
 * sampled, prompt and text through the model's tokenizer. This file adds only the CLI around them: flags, display, Ctrl-C, exit codes. Decoding runs on
 * this thread: by then the swarm peer (if any) has been stopped, so there is no network to starve.
 */
import { availableParallelism } from 'node:os';
import { createDecoder, paramCount, type StopReason } from '@slimswarm/performer';
import { isHelpExit } from '@slimswarm/node-compat/cli';
import { parseGenerateArgs, type GenerateOptions } from './generate-options.js';
import { jsonGenerateDisplay, textGenerateDisplay, type GenerateDisplay } from './generate-display.js';
import { EXIT } from './exit-codes.js';
import { modelSourceOf } from './model-flags.js';
import { loadModel, mergedModel } from './model-source.js';

/** Generates until the decoder stops (max tokens) or `signal` aborts; resolves with why it ended. */
export async function runGenerate(
  options: GenerateOptions,
  show: GenerateDisplay,
  signal: AbortSignal,
): Promise<StopReason> {
  const model = await mergedModel(await loadModel(await modelSourceOf(options, signal)), options.base);
  const decoder = await createDecoder(model.config, model.params, {
    threads: options.threads,
    featureEpoch: model.featureEpoch,
  });
  try {
    show({
      event: 'model',
      origin: model.origin,
      modelSha256: model.modelSha256,
      params: paramCount(model.config),
      threads: options.threads,
    });
    const text = model.tokenizer.textStream();
    const started = performance.now();
    let all = '';
    let tokens = 0;
    const tokenStream = decoder.generate(model.tokenizer.encode(options.prompt), {
      ...(options.maxTokens !== undefined ? { maxTokens: options.maxTokens } : {}),
      ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
      ...(options.topK !== undefined ? { topK: options.topK } : {}),
      ...(options.topP !== undefined ? { topP: options.topP } : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      signal,
    });
    let step = await tokenStream.next();
    for (; !step.done; step = await tokenStream.next()) {
      const piece = text.push(step.value);
      all += piece;
      tokens++;
      show({ event: 'token', token: step.value, text: piece });
    }
    const tail = text.end();
    const seconds = (performance.now() - started) / 1000;
    const { reason } = step.value;
    show({ event: 'done', reason, tokens, tail, text: all + tail, tokensPerSec: tokens / seconds });
    return reason;
  } finally {
    await decoder.dispose();
  }
}

/** Parses argv, runs, and maps every failure to a printed error and an exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let options: GenerateOptions;
  try {
    options = parseGenerateArgs(argv, { threads: Math.min(2, availableParallelism()) });
  } catch (e) {
    if (isHelpExit(e)) return EXIT.ok;
    process.stderr.write(`slimswarm-generate: ${(e as Error).message}\n`);
    return EXIT.usage;
  }
  const show = options.json ? jsonGenerateDisplay() : textGenerateDisplay(options.prompt);
  const controller = new AbortController();
  const onSignal = (): void => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const reason = await runGenerate(options, show, controller.signal);
    return reason === 'aborted' ? EXIT.interrupted : EXIT.ok;
  } catch (e) {
    if (controller.signal.aborted) return EXIT.interrupted;
    const err = e as Error;
    show({ event: 'error', name: err.name, message: err.message });
    // JSON lines are for programs; a person reading the terminal sees the failure too.
    if (options.json) process.stderr.write(`slimswarm-generate: ${err.name}: ${err.message}\n`);
    return EXIT.failed;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
