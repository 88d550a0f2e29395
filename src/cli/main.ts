#!/usr/bin/env node
// The `altreg` command line: `train`, `compare`, `demo`, `tune` and `selfcheck`. Flags are parsed by
// commander; every value is checked before any GPU work. Exit codes: 0 success, 2 bad usage
// or bad input (one line saying what is wrong and what is valid), 1 a runtime failure; Ctrl-C
// while training is said in one line, and the process then ends by the signal (progress.ts).

import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DECIMAL } from '../data/csv.js';
import { DATASET_NAMES } from '../data/datasets.js';
import { float32PositiveProblem, LR_RANGE, MIN_NORMAL_FLOAT32_TEXT } from '../kernels/adam.js';
import { runSelfCheck } from '../kernels/selfcheck.js';
import { sharedGpu } from '../runtime/gpu.js';
import { isLambda, LAMBDA_RANGE } from '../runtime/penalty.js';
import { runCompare, runTrain, runTune, DEMO_ARGS, SMALL_STEP_MULTIPLY_ADDS, type ExperimentFlags, type TuneFlags } from './commands.js';
import { cliMessage, isUsageError, UsageError } from './errors.js';
import { writeStdout } from './output.js';

// Mesa reads EGL_PLATFORM when Dawn's GL backend starts: headless machines have no display.
process.env.EGL_PLATFORM ??= 'surfaceless';

function integer(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
  return (value: string) => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer ${range}, got '${value}'`);
    return n;
  };
}

/**
 * A decimal number that `valid` accepts. `valid` returns true, false, or (refusing it) a clause
 * that goes after the value in the message (`which is 0 in float32; valid: …`).
 */
function number(name: string, valid: (n: number) => boolean | string, range: string) {
  return (value: string) => {
    const n = Number(value);
    // Decimal numbers only, as in CSV cells and schedule@λ: Number() would also read '0x10' and '0b1'.
    const verdict = DECIMAL.test(value.trim()) && Number.isFinite(n) ? valid(n) : false;
    if (verdict !== true) throw new InvalidArgumentError(`${name} must be ${range}, got '${value}'${typeof verdict === 'string' ? `, ${verdict}` : ''}`);
    return n;
  };
}

/**
 * --lr: a decimal number > 0 that is a normal float32, as the GPU computes in float32 (1e-50
 * would be 0 there and train nothing, 1e-40 a subnormal a GPU may flush to 0, 1e39 Infinity), as
 * the library's optimizer.lr.
 */
const learningRate = number(
  '--lr',
  (n) => {
    if (!(n > 0)) return false;
    const why = float32PositiveProblem(n, true);
    return why === null || `${why}; valid: ${LR_RANGE}`;
  },
  'a number > 0',
);

// The model's limits (src/model/mlp.ts), said in terms of the flag.
const MAX_WIDTH = 65536;
const MAX_LAYERS = 30;

function widths(value: string): number[] {
  const parts = value.split(',').map((p) => p.trim());
  if (parts.some((p) => !/^\d+$/.test(p) || Number(p) < 1 || Number(p) > MAX_WIDTH) || parts.length > MAX_LAYERS) {
    throw new InvalidArgumentError(`--hidden must be 1 to ${MAX_LAYERS} comma-separated layer widths from 1 to ${MAX_WIDTH} (e.g. 10 or 64,32), got '${value}'`);
  }
  return parts.map(Number);
}

/** The options shared by `train` and `compare`. */
function experimentOptions(command: Command): Command {
  return command
    // Required, which checkArguments says (commander would say it before a stray argument such as `train iris.csv`).
    .option('--data <name|file.csv>', 'required: iris, wine, breast_cancer, digits, or a CSV file (header row, numeric features)')
    .option('--label <column>', 'label column of a CSV: header name or 0-based index (default: the last column)')
    .addOption(new Option('--hidden <widths>', 'hidden layer widths, comma-separated').argParser(widths).default([10], '10'))
    .addOption(new Option('--activation <name>', 'hidden activation').choices(['relu', 'tanh', 'sigmoid', 'identity']).default('relu'))
    .option('--epochs <n>', 'epochs to train (up to 1000000)', integer('--epochs', 1, 1_000_000), 100)
    .option('--batch-size <n>', 'rows per step (the last partial batch is trained too)', integer('--batch-size', 1, 1 << 20), 16)
    .option('--lr <x>', `Adam learning rate (a normal float32 > 0: about ${MIN_NORMAL_FLOAT32_TEXT} to 3.4e38)`, learningRate, 0.001)
    .option('--l2 <lambda>', 'L2 strength λ', number('--l2', isLambda, LAMBDA_RANGE), 0.01)
    .addOption(new Option('--penalty <mode>', 'coupled: L2 in the gradient; decoupled: AdamW weight decay').choices(['coupled', 'decoupled']).default('coupled'))
    .addOption(new Option('--convention <name>', 'keras: penalty λΣw² (gradient 2λw); torch: gradient λw').choices(['keras', 'torch']).default('keras'))
    .addOption(new Option('--targets <which>', 'penalized tensors').choices(['kernels', 'all']).default('kernels'))
    .option('--folds <k>', 'stratified k-fold cross-validation (without it: one stratified 80/20 holdout)', integer('--folds', 2))
    .option('--repeats <n>', 'repeat the k-fold with new shuffles (needs --folds)', integer('--repeats', 1), 1)
    .option('--validation <fraction>', 'fraction of each training part held out for per-epoch validation', number('--validation', (n) => n >= 0 && n < 1, 'in [0, 1)'), 0.1)
    .option('--no-standardize', 'do not standardize features (by default fitted on each training part only)')
    .option('--seed <n>', 'seed of splits, initialization, shuffles and random schedules', integer('--seed', 0), 0)
    .addOption(new Option('--device <which>', 'auto: the GPU if one is found, else the CPU reference trainer').choices(['auto', 'gpu', 'cpu']).default('auto'))
    .option('--save <dir>', 'save a checkpoint of every trained model under DIR: a new or empty folder, or one of this same experiment, whose checkpoints are replaced (written into a working folder inside DIR first, then moved into place)')
    .option('--resume <dir>', 'continue the models saved under DIR by --save for --epochs more epochs (the flags that shape data, folds and models must be the same)')
    .option('--json <file>', 'write the full results and per-epoch history as JSON (written atomically; - for stdout, the report then on stderr)')
    .option('--quiet', 'no progress output')
    .addHelpText(
      'after',
      `\nOn Mesa llvmpipe (a machine without a GPU), an experiment of at most ${SMALL_STEP_MULTIPLY_ADDS / 1000}k multiply-adds per step\n(models × batch × weights; the demo: 45k) runs compute on this thread instead of llvmpipe's thread\npool (LP_NUM_THREADS=0): faster for small models. Set LP_NUM_THREADS yourself to choose.`,
    );
}

/** Flags whose value is a path: one that starts with -- can be given as ./--name. */
const PATH_FLAGS = new Set(['--data', '--save', '--resume', '--json']);

/**
 * Refuses a flag as the value of every option of `command` that takes one: commander takes the
 * next argument whatever it is, so `--json --quiet` would write the JSON to a file named
 * `--quiet` (and show progress), and `--save --epochs 3` would save into `--epochs` (and then
 * refuse the 3 as an argument).
 */
function refuseFlagValues(command: Command): void {
  for (const option of command.options) {
    if (!option.required) continue;
    const parse = option.parseArg;
    option.argParser((value: string, previous: unknown) => {
      if (value.startsWith('--')) {
        const path = PATH_FLAGS.has(option.long!) ? ` (a path that starts with -- can be given as ./${value})` : '';
        throw new InvalidArgumentError(`${option.long} needs a value, but '${value}' after it is a flag${path}`);
      }
      return parse ? parse(value, previous) : value;
    });
  }
}

/**
 * Refuses arguments that are not flags, saying what was given (commander counts them only), and
 * then a missing --data. A data set or CSV given as `altreg train iris.csv` is shown as a flag.
 */
function checkArguments(command: Command): void {
  command.allowExcessArguments().hook('preAction', (_, action) => {
    const takesData = action.options.some((o) => o.long === '--data');
    if (action.args.length > 0) {
      const data = takesData && action.args.length === 1 && ((DATASET_NAMES as readonly string[]).includes(action.args[0]) || /\.csv$/i.test(action.args[0]));
      const hint = data ? `give the data as --data ${action.args[0]}` : 'every setting is a flag';
      throw new UsageError(`${action.name()} takes no arguments, got '${action.args.join(' ')}'; ${hint} (see --help)`);
    }
    if (takesData && action.opts().data === undefined) throw new UsageError(`--data is required: ${DATASET_NAMES.join(', ')}, or a .csv file (see --help)`);
  });
}

/**
 * A commander error on one line, said as the CLI's own messages are: `unknown option
 * '--epoch'\n(Did you mean --epochs?)` → `…'--epoch'; did you mean --epochs?`, and the flag's
 * frame (`option '--lr <x>' argument '0' is invalid.`) dropped before a message of ours, which
 * names the flag and the value itself.
 */
function oneLine(text: string): string {
  const [first, ...rest] = text.trim().split('\n');
  const suggestion = rest.map((line) => /^\(Did you mean (.+)\?\)$/.exec(line.trim())).find((m) => m);
  const message = first
    .replace(/^error: /, '')
    .replace(/^option '[^']*' argument '.*' is invalid\. (?=--)/, '')
    .replace(/^option '(--[\w-]+)[^']*' argument '(.*)' is invalid\. Allowed choices are (.*)\.$/, "$1 must be one of $3, got '$2'")
    .replace(/^option '(--[\w-]+)[^']*' argument missing$/, '$1 needs a value');
  return message + (suggestion ? `; did you mean ${suggestion[1]}?` : '');
}

/** After the top-level --help: what users try first, and what the exit codes mean. */
const EXAMPLES_AND_EXIT_CODES = `
Examples:
  altreg demo
  altreg train --data iris --schedule alternate --epochs 100 --lr 0.01
  altreg compare --data my.csv --label species --folds 5 --schedules constant@0.0075,alternate
  altreg train --data wine --folds 5 --quiet --json - | jq '.arms[0].accuracy'

Every command has --help. Exit codes:
  0  success
  1  a runtime failure: training diverged, no WebGPU adapter (--device gpu), an output not written
  2  bad usage or input: a flag, its value, the data (one line says what is wrong and what is valid)
  Ctrl-C or SIGTERM while training says after which epoch, then ends the process by that signal
  (130 in a shell for Ctrl-C); nothing is half-written.`;

export function buildProgram(): Command {
  const program = new Command('altreg')
    .description('Train MLPs on WebGPU with scheduled L2 penalties (e.g. alternating L2), and measure honestly whether the schedules help.')
    .version('0.1.0')
    .exitOverride()
    // One line: what is wrong, commander's guess at what was meant, and where the valid choices are listed.
    .configureOutput({ outputError: (text, write) => write(`altreg: ${oneLine(text)} (see --help)\n`) })
    .addHelpText('after', EXAMPLES_AND_EXIT_CODES);

  experimentOptions(
    program
      .command('train')
      .description('train one configuration: k-fold cross-validation with --folds, else a stratified holdout; prints the classification report')
      .option('--schedule <schedule>', 'constant, none, alternate, rotate, parity, random:P or early:E', 'constant'),
  )
    .exitOverride()
    .action(async (flags: ExperimentFlags & { schedule: string }) => {
      process.exitCode = await runTrain(flags);
    });

  experimentOptions(
    program
      .command('compare')
      .description('train every schedule on the same folds and seeds and print them side by side (mean ± std, paired differences)')
      .option('--schedules <list>', 'comma-separated arms to compare, the first the baseline: a schedule, or schedule@λ with its own L2 strength (e.g. constant@0.0075)', 'none,constant,alternate')
      .option('--report <arm>', 'also print the classification report of this arm (as --schedules lists it)'),
  )
    .exitOverride()
    .action(async (flags: ExperimentFlags & { schedules: string; report?: string }) => {
      process.exitCode = await runCompare(flags);
    });

  program
    .command('demo')
    .description(`the main job: ${DEMO_ARGS.join(' ')}`)
    .option('--json <file>', 'also write the full results as JSON (- for stdout, the report then on stderr)')
    .option('--quiet', 'no progress output')
    .exitOverride()
    .action(async (flags: { json?: string; quiet?: boolean }) => {
      const args = [...DEMO_ARGS, ...(flags.json !== undefined ? ['--json', flags.json] : []), ...(flags.quiet ? ['--quiet'] : [])];
      await buildProgram().parseAsync(['node', 'altreg', ...args]);
    });

  program
    .command('tune')
    .description("time matmul tile configurations on this adapter and save the fastest; train, compare and demo then use it here")
    .option('--runs <n>', 'timed runs per candidate and product (the median counts)', integer('--runs', 1), 3)
    .option('--no-save', 'print the timings without saving them')
    .option('--json <file>', 'also write every timing as JSON (written atomically; - for stdout, the report then on stderr)')
    .option('--quiet', 'no progress output')
    .addHelpText('after', '\nThe timings are saved in $ALTREG_CACHE_DIR, else $XDG_CACHE_HOME/altreg, else ~/.cache/altreg,\none entry per adapter; an entry measured with another version of the matmul kernel is ignored.')
    .exitOverride()
    .action(async (flags: TuneFlags) => {
      process.exitCode = await runTune(flags);
    });

  program
    .command('selfcheck')
    .description("run every GPU kernel against its CPU twin on this machine's WebGPU adapter (the one train uses)")
    .exitOverride()
    .action(async () => {
      const gpu = await sharedGpu();
      process.stderr.write(`adapter: ${gpu.name}\n`);
      // A reader that goes away (`| head`) is said once, as for the other commands' reports,
      // not as an 'error' event's stack trace.
      let unwritten: Error | null = null;
      const print = (line: string) => writeStdout(line).catch((error: Error) => void (unwritten ??= error));
      const results = await runSelfCheck(gpu, (r) => {
        void print(`${r.ok ? 'ok  ' : 'FAIL'}  ${r.name.padEnd(78)} error ${r.error.toExponential(2)} (limit ${r.limit.toExponential(0)})\n`);
      });
      const failed = results.filter((r) => !r.ok).length;
      await print(`${results.length - failed}/${results.length} kernel checks passed on ${gpu.name}\n`);
      if (unwritten) throw unwritten;
      process.exitCode = failed === 0 ? 0 : 1;
    });
  for (const command of program.commands) {
    refuseFlagValues(command);
    checkArguments(command);
  }
  return program;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; every other commander error is bad usage.
      process.exitCode = error.exitCode === 0 || error.code === 'commander.helpDisplayed' || error.code === 'commander.version' ? 0 : 2;
    } else if (isUsageError(error)) {
      process.stderr.write(`altreg: ${(error as Error).message}\n`);
      process.exitCode = 2;
    } else {
      // A divergence's advice in the flags' terms (lower --lr or --l2), not the library's.
      process.stderr.write(`altreg: ${cliMessage(error)}\n`);
      process.exitCode = 1;
    }
  }
  // Dawn can keep the event loop alive after the work is done.
  process.exit(process.exitCode ?? 0);
}

void main();
