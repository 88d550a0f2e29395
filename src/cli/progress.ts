// Progress of a training run on stderr: a bar (cli-progress) when stderr is a terminal, plain
// lines every tenth of the run and at least every LINE_SECONDS otherwise (CI logs, pipes). The bar
// hides the cursor and turns line wrap off until it stops, so it stops on every way out: stop(),
// SIGINT, SIGTERM and the process's exit.

import cliProgress from 'cli-progress';
import type { EpochRecord } from '../runtime/plan.js';

export interface Progress {
  epoch(epoch: number, records: EpochRecord[]): void;
  /** Within a long epoch (the library's onStep): `step` of its `steps` done. */
  step(step: number, steps: number): void;
  stop(): void;
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
}

/** Without a terminal, a line at least this often (besides every tenth of the run). */
export const LINE_SECONDS = 10;

/**
 * `total` epochs over all batches; `label` names what trains (e.g. "30 models"); `stream` is stderr
 * but in tests. A resumed run counts the epochs of the whole run: `start` of them were trained
 * before (and are in `total`), so its first epoch shows as `start + 1`, as its heading counts them.
 */
export function createProgress(total: number, label: string, quiet: boolean, stream: NodeJS.WriteStream = process.stderr, start = 0): Progress {
  let done = start;
  if (quiet) return { epoch: () => undefined, step: () => undefined, stop: () => undefined };
  const summary = (records: EpochRecord[]) => {
    const val = records.filter((r) => r.valAccuracy !== undefined);
    const parts = [`loss ${mean(records.map((r) => r.loss)).toFixed(4)}`, `train acc ${mean(records.map((r) => r.trainAccuracy)).toFixed(3)}`];
    if (val.length > 0) parts.push(`val acc ${mean(val.map((r) => r.valAccuracy!)).toFixed(3)}`);
    return parts.join(', ');
  };
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} |{bar}| epoch {value}/{total}{step} | {summary} | {duration_formatted}`, stream, hideCursor: true, clearOnComplete: false },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, start, { summary: '', step: '' });
    // cli-progress's own gracefulExit stops the bar on a signal but then keeps the process
    // running: here the signal is sent again once the bar is stopped, to end the process as it would have.
    const stop = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('exit', stop);
      bar.stop();
    };
    const onSignal = (signal: NodeJS.Signals) => {
      stop();
      process.kill(process.pid, signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('exit', stop);
    return {
      epoch(_, records) {
        done++;
        bar.update(done, { summary: summary(records), step: '' });
      },
      step(step, steps) {
        bar.update(done, { step: ` · step ${step}/${steps}` });
      },
      stop,
    };
  }
  const every = Math.max(1, Math.round(total / 10));
  let last = performance.now();
  return {
    epoch(_, records) {
      done++;
      const now = performance.now();
      if (done % every === 0 || done === total || now - last >= LINE_SECONDS * 1000) {
        last = now;
        stream.write(`${label}: epoch ${done}/${total}: ${summary(records)}${records.length > 1 ? ' (mean over models)' : ''}\n`);
      }
    },
    step(step, steps) {
      // A long epoch: a line at least every LINE_SECONDS still.
      const now = performance.now();
      if (now - last < LINE_SECONDS * 1000) return;
      last = now;
      stream.write(`${label}: epoch ${done + 1}/${total}: step ${step}/${steps}\n`);
    },
    stop: () => undefined,
  };
}
