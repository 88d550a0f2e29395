// Progress of a training run on stderr: a bar (cli-progress) when stderr is a terminal, plain
// lines every tenth of the run and at least every LINE_SECONDS otherwise (CI logs, pipes). The bar
// hides the cursor and turns line wrap off until it stops, so it stops on every way out: stop(),
// SIGINT, SIGTERM and the process's exit. A signal while training (even with --quiet) is said in
// one line, after which epoch and what was not written, before the process ends by that signal.

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
 * `interrupted` ends the line said on SIGINT or SIGTERM until stop() (what the command has not
 * written yet, e.g. "nothing was saved to ckpt").
 */
export function createProgress(total: number, label: string, quiet: boolean, stream: NodeJS.WriteStream = process.stderr, start = 0, interrupted = ''): Progress {
  let done = start;
  const display = quiet ? null : stream.isTTY ? barDisplay() : lineDisplay();
  // A signal stops the display, says where training stopped, and is sent again once every
  // listener is gone, to end the process as it would have (a shell sees 130 for SIGINT, and a
  // script's loop stops). cli-progress's own gracefulExit would keep the process running.
  const stop = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', stop);
    display?.stop();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    stop();
    stream.write(`altreg: interrupted (${signal}) after epoch ${done}/${total}${interrupted ? `; ${interrupted}` : ''}\n`);
    process.kill(process.pid, signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // The bar gives the cursor and line wrap back however the process ends (an error, process.exit).
  process.on('exit', stop);
  return {
    epoch(epoch, records) {
      done++;
      display?.epoch(epoch, records);
    },
    step: (step, steps) => display?.step(step, steps),
    stop,
  };

  function summary(records: EpochRecord[]): string {
    const val = records.filter((r) => r.valAccuracy !== undefined);
    const parts = [`loss ${mean(records.map((r) => r.loss)).toFixed(4)}`, `train acc ${mean(records.map((r) => r.trainAccuracy)).toFixed(3)}`];
    if (val.length > 0) parts.push(`val acc ${mean(val.map((r) => r.valAccuracy!)).toFixed(3)}`);
    return parts.join(', ');
  }

  /** The bar on a terminal. */
  function barDisplay(): Progress {
    const bar = new cliProgress.SingleBar(
      { format: `${label} |{bar}| epoch {value}/{total}{step} | {summary} | {duration_formatted}`, stream, hideCursor: true, clearOnComplete: false },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, start, { summary: '', step: '' });
    return {
      epoch(_, records) {
        bar.update(done, { summary: summary(records), step: '' });
      },
      step(step, steps) {
        bar.update(done, { step: ` · step ${step}/${steps}` });
      },
      stop: () => bar.stop(),
    };
  }

  /** Without a terminal: a line every tenth of the run, and at least every LINE_SECONDS. */
  function lineDisplay(): Progress {
    const every = Math.max(1, Math.round(total / 10));
    let last = performance.now();
    return {
      epoch(_, records) {
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
}
