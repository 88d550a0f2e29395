// What `altreg train`, `altreg compare` and `altreg tune` do: load the data, build the arms, run the
// experiment on the chosen device with progress, print the report or comparison, and write the
// JSON results and checkpoints (atomically, and only after training succeeded).

import { createHash } from 'node:crypto';
import { constants as bufferConstants } from 'node:buffer';
import { existsSync, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseCsv } from '../data/csv.js';
import { SplitError, type SplitStep } from '../data/split.js';
import { DATASET_NAMES, loadDataset, type Dataset, type DatasetName } from '../data/datasets.js';
import { armKey, describeLambda, describeMissingControls, missingControls, parseArms, type ArmText } from '../experiment/arms.js';
import { experimentSplits, runExperiment, type Arm, type ExperimentOptions, type ExperimentResult } from '../experiment/crossval.js';
import { formatAveragedReport, formatComparison, formatIllDefined, jsonText } from '../experiment/format.js';
import { describeStrategy, type Activation } from '../kernels/matmul.js';
import { mlpLayout } from '../model/mlp.js';
import { formatTuning, tuneMatmul } from '../kernels/tune.js';
import { errorCode, loadCheckpoint, MANIFEST_FILE, saveCheckpoint, WEIGHTS_FILE, writeFileAtomic } from '../runtime/checkpoint.js';
import type { Checkpoint } from '../runtime/train.js';
import { GpuError, sharedGpu, type Gpu } from '../runtime/gpu.js';
import { didYouMean, plural } from '../runtime/options.js';
import { cpuAdapterProblem, type LimitNames } from '../runtime/limits.js';
import type { PenaltyConfig } from '../runtime/penalty.js';
import { parseSchedule, scheduleLabel, ScheduleError, type ScheduleSpec } from '../runtime/schedule.js';
import { UsageError } from './errors.js';
import { ensureDir, isStdout, planOutputFile, planSaveDir, recoverSaveDir, replaceDir, RUN_FILE, writeStdout } from './output.js';
import { createProgress } from './progress.js';
import { applySavedTuning, saveTuning, tuningCacheFile } from './tuning-cache.js';

/** Flags shared by train and compare, as commander parses them. */
export interface ExperimentFlags {
  data: string;
  label?: string;
  hidden: number[];
  activation: Activation;
  epochs: number;
  batchSize: number;
  lr: number;
  l2: number;
  penalty: 'coupled' | 'decoupled';
  convention: 'keras' | 'torch';
  targets: 'kernels' | 'all';
  folds?: number;
  repeats: number;
  validation: number;
  standardize: boolean;
  seed: number;
  device: 'auto' | 'gpu' | 'cpu';
  save?: string;
  resume?: string;
  json?: string;
  quiet?: boolean;
}

/** The main job: 10-fold CV on Iris, none vs constant vs alternating L2 vs constant L2 at alternating's mean strength (4-10-3, Adam 0.001, λ 0.01). */
export const DEMO_ARGS = ['compare', '--data', 'iris', '--schedules', 'none,constant,alternate,constant@0.0075', '--folds', '10', '--hidden', '10', '--activation', 'relu', '--lr', '0.001', '--l2', '0.01', '--epochs', '300', '--batch-size', '16', '--report', 'alternate'];

/** CSV files larger than this get a note before they are read, which takes seconds (3.6 s for 141 MB). */
export const READ_NOTE_BYTES = 20_000_000;

/**
 * A CSV is read into one string, which Node caps at MAX_STRING_LENGTH (2²⁹ − 24 on 64-bit, just
 * under 512 MiB; readFileSync refuses a file of that many bytes too, with ERR_STRING_TOO_LONG): a
 * larger file is refused from its size, without reading it.
 */
export function checkCsvSize(file: string, bytes: number): void {
  const max = bufferConstants.MAX_STRING_LENGTH;
  if (bytes < max) return;
  throw new UsageError(`cannot read ${file}: it is ${megabytes(bytes)}, and a CSV must be under ${max.toLocaleString('en-US')} bytes (about ${Math.round(max / 2 ** 20)} MiB, Node's longest string)`);
}

function megabytes(bytes: number): string {
  return `${Math.round(bytes / 1e6)} MB`;
}

async function loadData(flags: ExperimentFlags): Promise<Dataset> {
  if ((DATASET_NAMES as readonly string[]).includes(flags.data)) {
    if (flags.label !== undefined) throw new UsageError(`--label applies to CSV files; '${flags.data}' is a shipped data set`);
    return loadDataset(flags.data as DatasetName);
  }
  if (!flags.data.toLowerCase().endsWith('.csv')) {
    throw new UsageError(`--data must be one of ${DATASET_NAMES.join(', ')} or a .csv file, got '${flags.data}'${didYouMean(flags.data, DATASET_NAMES)}`);
  }
  const cannotRead = (error: unknown) => new UsageError(`cannot read ${flags.data} (${errorCode(error)})`);
  let size: Stats;
  try {
    size = statSync(flags.data);
  } catch (error) {
    throw cannotRead(error);
  }
  // A pipe or device has no size: it is read as it comes.
  if (size.isFile()) {
    checkCsvSize(flags.data, size.size);
    if (size.size > READ_NOTE_BYTES && !flags.quiet) process.stderr.write(`altreg: reading ${flags.data} (${megabytes(size.size)})…\n`);
  }
  let text: string;
  try {
    text = readFileSync(flags.data, 'utf8');
  } catch (error) {
    throw cannotRead(error);
  }
  const label = flags.label === undefined ? undefined : /^\d+$/.test(flags.label) ? Number(flags.label) : flags.label;
  return parseCsv(text, { name: basename(flags.data), ...(label !== undefined ? { label } : {}) });
}

function armFolder(arm: Arm): string {
  return arm.name.replace(/[^A-Za-z0-9._-]+/g, '_');
}

function describeData(d: Dataset): string {
  return `${d.name} (${d.rows} rows, ${d.features} feature${d.features === 1 ? '' : 's'}, ${d.classes} classes)`;
}

/** Where model (arm, split) is saved under --save / read under --resume. */
function checkpointDir(root: string, arms: Arm[], arm: number, split: number, folds: boolean): string {
  const parts = [root];
  if (arms.length > 1) parts.push(armFolder(arms[arm]));
  if (folds) parts.push(`fold-${split}`);
  return join(...parts);
}

/** The entries a --save folder's top level gets: the run record and the checkpoints' layout. */
function saveEntries(arms: Arm[], splits: number, folds: boolean): string[] {
  const top = arms.length > 1 ? arms.map(armFolder) : folds ? Array.from({ length: splits }, (_, s) => `fold-${s}`) : [MANIFEST_FILE, WEIGHTS_FILE];
  return [RUN_FILE, ...top];
}

/**
 * The record --save writes beside the checkpoints (RUN_FILE): the flags that fix the data, the
 * folds and the models, and the epochs trained so far. --resume must be given the same flags
 * (--epochs, --device and the output flags may differ), else its folds would differ from those
 * the checkpoints trained on.
 */
interface RunRecord {
  format: 'altreg-cli-run';
  version: 1;
  epochs: number;
  flags: Record<string, string>;
}

/** The data's identity: its shape and a hash of its values and labels (so --label is in it too). */
function dataIdentity(d: Dataset): string {
  const hash = createHash('sha256');
  hash.update(new Uint8Array(d.x.buffer, d.x.byteOffset, d.x.byteLength));
  hash.update(new Uint8Array(d.y.buffer, d.y.byteOffset, d.y.byteLength));
  hash.update(JSON.stringify(d.classNames));
  return `${describeData(d)}, sha256 ${hash.digest('hex').slice(0, 16)}`;
}

/**
 * Each experiment flag that must match on --resume, as the user would type its value. --l2 only
 * where an arm trains with it: not when every arm is `none` or gives its own `@λ`.
 */
function runFlags(flags: ExperimentFlags, dataset: Dataset, arms: Arm[], command: 'train' | 'compare', usesL2: boolean): Record<string, string> {
  const record: Record<string, string> = {
    command,
    '--data': dataIdentity(dataset),
    '--hidden': flags.hidden.join(','),
    '--activation': flags.activation,
    [command === 'train' ? '--schedule' : '--schedules']: arms.map((a) => a.name).join(','),
    '--l2': String(flags.l2),
    '--penalty': flags.penalty,
    '--convention': flags.convention,
    '--targets': flags.targets,
    '--lr': String(flags.lr),
    '--batch-size': String(flags.batchSize),
    '--folds': flags.folds === undefined ? 'none (a holdout split)' : String(flags.folds),
    '--repeats': String(flags.folds === undefined ? 1 : flags.repeats),
    '--validation': String(flags.validation),
    '--standardize': flags.standardize ? 'on' : 'off (--no-standardize)',
    '--seed': String(flags.seed),
  };
  if (!usesL2) delete record['--l2'];
  return record;
}

/** --save's refusal of a folder that holds another experiment's checkpoints; `how` says how it differs. */
function anotherExperiment(dir: string, how: string): UsageError {
  return new UsageError(`--save: ${dir} holds another experiment (${how}); choose a new or empty folder`);
}

/** Whether two existing paths are one folder (through links and `.`). */
function sameFolder(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

/** DIR's run record, or null when it has none; `flag` names the folder's flag in messages. */
function readRunRecord(flag: string, dir: string): RunRecord | null {
  const file = join(dir, RUN_FILE);
  if (!existsSync(file)) return null;
  let record: RunRecord;
  try {
    record = JSON.parse(readFileSync(file, 'utf8')) as RunRecord;
  } catch (error) {
    throw new UsageError(`${flag}: ${file} is not readable as JSON (${(error as Error).message})`);
  }
  const flags = record?.flags as unknown;
  if (record?.format !== 'altreg-cli-run' || record.version !== 1 || !Number.isInteger(record.epochs) || record.epochs < 1 || !flags || typeof flags !== 'object' || Array.isArray(flags) || Object.values(flags).some((v) => typeof v !== 'string') || typeof record.flags.command !== 'string') {
    throw new UsageError(`${flag}: ${file} is not an altreg run record (expected "format": "altreg-cli-run", version 1, the epochs trained as an integer ≥ 1, and the flags as text)`);
  }
  return record;
}

/**
 * How a run record's flags differ from this run's, as "flag X there, Y here"; '' when they agree.
 * --l2 where this run does not record it (no arm uses it) is not compared: records of earlier
 * versions hold it regardless.
 */
function flagDifferences(record: RunRecord, current: Record<string, string>): string {
  // Own keys only: a record's flag named 'toString' is a flag, not the method every object has.
  const value = (flags: Record<string, string>, flag: string) => (Object.hasOwn(flags, flag) ? flags[flag] : undefined);
  return [...new Set([...Object.keys(record.flags), ...Object.keys(current)])]
    .filter((flag) => Object.hasOwn(current, flag) || flag !== '--l2')
    .filter((flag) => value(record.flags, flag) !== value(current, flag))
    .map((flag) => `${flag} ${value(record.flags, flag) ?? '(not given)'} there, ${value(current, flag) ?? '(not given)'} here`)
    .join('; ');
}

/**
 * Checks that DIR was saved by `altreg COMMAND … --save` and returns its run record; what needs
 * no data, so that a wrong folder is said before the data is read. checkResumeFlags then checks
 * the flags, the checkpoints are checked once loaded (checkResumedModels).
 */
function openResume(dir: string, command: 'train' | 'compare', quiet: boolean | undefined): RunRecord {
  if (dir.trim() === '') throw new UsageError('--resume needs the folder a --save wrote');
  if (!existsSync(dir)) throw new UsageError(`--resume: ${dir} does not exist`);
  recoverBeforeUse('--resume', dir, quiet);
  if (!statSync(dir).isDirectory()) throw new UsageError(`--resume: ${dir} is a file, not a folder; give the folder a --save wrote`);
  const record = readRunRecord('--resume', dir);
  if (!record) {
    throw new UsageError(`--resume: ${dir} has no ${RUN_FILE}, so it was not saved by \`altreg … --save\` (a checkpoint saved by the library continues with the library's train({ resume }))`);
  }
  if (record.flags.command !== command) {
    throw new UsageError(`--resume: ${dir} was saved by \`altreg ${record.flags.command}\`; resume it with ${record.flags.command} and the same flags`);
  }
  return record;
}

/** Checks that DIR's run was trained with this run's flags (--epochs, --device and the output flags may differ). */
function checkResumeFlags(dir: string, record: RunRecord, current: Record<string, string>): void {
  const differ = flagDifferences(record, current);
  if (differ) throw new UsageError(`--resume: ${dir} was trained with other flags (${differ}); resume with the flags it was trained with (--epochs, --device and the output flags may differ)`);
}

/** A model's layers, as `4 → 10 → 3`. */
function describeLayers(features: number, hidden: number[], classes: number, activation: string, withActivation: boolean): string {
  return [features, ...hidden, classes].join(' → ') + (withActivation ? ` (${activation})` : '');
}

/**
 * Checks the loaded checkpoints against this run and the run record, before any GPU work: each of
 * this run's shape (the library would refuse another only after the GPU is set up, in its own
 * terms), and all at the record's epoch (the library resumes each from its own, so a folder mixed
 * by hand would train on with histories of different lengths).
 */
function checkResumedModels(dir: string, record: RunRecord, models: { dir: string; checkpoint: Checkpoint }[], dataset: Dataset, flags: ExperimentFlags): void {
  for (const m of models) {
    const { features, classes, model } = m.checkpoint.manifest.config;
    const activation = model.activation !== flags.activation;
    if (features !== dataset.features || classes !== dataset.classes || activation || model.hidden.join(',') !== flags.hidden.join(',')) {
      const saved = describeLayers(features, model.hidden, classes, model.activation, activation);
      const here = describeLayers(dataset.features, flags.hidden, dataset.classes, flags.activation, activation);
      throw new UsageError(`--resume: ${m.dir} holds a model of ${saved}, this run's is ${here}; resume from the folder this experiment's --save wrote`);
    }
  }
  const byEpoch = new Map<number, string[]>();
  for (const m of models) byEpoch.set(m.checkpoint.manifest.epoch, [...(byEpoch.get(m.checkpoint.manifest.epoch) ?? []), m.dir]);
  if (byEpoch.size > 1 || !byEpoch.has(record.epochs)) {
    const list = (dirs: string[]) => (dirs.length > 3 ? `${dirs.slice(0, 3).join(', ')}, … (${dirs.length} in all)` : dirs.join(', '));
    const found = [...byEpoch].map(([epoch, dirs]) => `${list(dirs)} at epoch ${epoch}`).join('; ');
    throw new UsageError(`--resume: ${dir} does not hold one run's checkpoints: its ${RUN_FILE} records ${plural(record.epochs, 'epoch')}, but ${found}; resume from a folder that one --save wrote`);
  }
}

/**
 * Multiply-adds of one training step's forward pass, all models together: models × batch ×
 * Σ inputs·outputs over the layers.
 */
export function stepMultiplyAdds(models: number, batch: number, layers: number[]): number {
  let weights = 0;
  for (let l = 1; l < layers.length; l++) weights += layers[l - 1] * layers[l];
  return models * batch * weights;
}

/**
 * Up to this many multiply-adds per step (the demo: 40 models × 16 rows × 70 weights, 44,800),
 * the CLI has llvmpipe run compute in its own thread (GpuOptions.llvmpipeThreads = 0). Measured
 * on a 2-core machine, training time with the thread pool → without: the demo 1.9 → 1.2 s, Iris
 * alone 1.0 → 0.3 s, wine's 30 models 2.3 → 1.5 s, breast cancer's (154k) 2.3 → 2.1 s; digits'
 * 15 models of 64-10-10 (177k) 2.1 s either way; 15 of 64-32-10 (568k) 3.8 → 7.0 s.
 */
export const SMALL_STEP_MULTIPLY_ADDS = 160_000;

async function pickDevice(choice: ExperimentFlags['device'], inline: boolean): Promise<Gpu | null> {
  if (choice === 'cpu') return null;
  try {
    return await sharedGpu(inline ? { llvmpipeThreads: 0 } : {});
  } catch (error) {
    // A no-adapter error says "no WebGPU adapter" itself; other failures (Dawn missing) do not.
    const message = (error as Error).message;
    const noAdapter = error instanceof GpuError && error.code === 'no-adapter';
    if (choice === 'gpu') throw noAdapter ? new GpuError(`${message}; --device auto or cpu trains on the CPU reference trainer`, 'no-adapter') : error;
    process.stderr.write(`altreg: ${noAdapter ? message : `no WebGPU adapter (${message})`}; training on the CPU reference trainer\n`);
    return null;
  }
}

async function runExperimentCommand(
  flags: ExperimentFlags,
  command: 'train' | 'compare',
  arms: Arm[],
  usesL2: boolean,
  print: (r: ExperimentResult, data: Dataset, resumedEpochs: number) => string,
): Promise<number> {
  if (flags.folds === undefined && flags.repeats !== 1) throw new UsageError('--repeats repeats k-fold cross-validation with new shuffles: it needs --folds');
  const folds = flags.folds !== undefined;
  // The folders and files named by --resume, --save and --json are checked before the data is
  // read (seconds for a large CSV): what needs the data (its flags' record, the checkpoints'
  // shapes, the folds) after.
  const resumed = flags.resume !== undefined ? openResume(flags.resume, command, flags.quiet) : null;
  let saved: RunRecord | null = null;
  if (flags.save !== undefined) {
    recoverBeforeUse('--save', flags.save, flags.quiet);
    // The splits experimentSplits makes of data that can be split (splitsFor checks that below).
    planSaveDir(flags.save, saveEntries(arms, folds ? flags.folds! * flags.repeats : 1, folds));
    // A folder that another experiment saved into is not overwritten by this one (the --resume
    // folder's record is read once).
    saved = resumed && sameFolder(flags.save, flags.resume!) ? resumed : readRunRecord('--save', flags.save);
    if (saved && saved.flags.command !== command) throw anotherExperiment(flags.save, `saved by \`altreg ${saved.flags.command}\``);
  }
  const csv = !(DATASET_NAMES as readonly string[]).includes(flags.data);
  const writeJson =
    flags.json !== undefined ? planOutputFile('--json', flags.json, { files: csv ? { '--data': flags.data } : {}, folders: flags.save !== undefined ? { '--save': flags.save } : {} }) : null;
  const dataset = await loadData(flags);
  const options: ExperimentOptions = {
    dataset,
    model: { hidden: flags.hidden, activation: flags.activation },
    arms,
    ...(flags.folds !== undefined ? { folds: flags.folds, repeats: flags.repeats } : {}),
    validationFraction: flags.validation,
    standardize: flags.standardize,
    epochs: flags.epochs,
    batchSize: flags.batchSize,
    optimizer: { lr: flags.lr },
    seed: flags.seed,
    device: flags.device === 'cpu' ? 'cpu' : 'gpu',
  };
  // The folds are made again by runExperiment; making them here finds data that cannot be split
  // before any GPU work.
  const splitList = splitsFor(options, flags);
  const splits = splitList.length;
  const record = runFlags(flags, dataset, arms, command, usesL2);
  let resumedEpochs = 0;
  if (resumed) {
    const dir = flags.resume!;
    checkResumeFlags(dir, resumed, record);
    const checkpoints = await Promise.all(arms.map((_, a) => Promise.all(Array.from({ length: splits }, (_, s) => loadCheckpoint(checkpointDir(dir, arms, a, s, folds))))));
    checkResumedModels(dir, resumed, checkpoints.flatMap((models, a) => models.map((checkpoint, s) => ({ dir: checkpointDir(dir, arms, a, s, folds), checkpoint }))), dataset, flags);
    resumedEpochs = resumed.epochs;
    options.resume = (a, s) => checkpoints[a][s];
  }
  const differ = saved ? flagDifferences(saved, record) : '';
  if (differ) throw anotherExperiment(flags.save!, differ);
  // Everything above checked the input; only now is a GPU asked for.
  const models = arms.length * splits;
  // The batch trains at most the largest training set's rows (train() caps it so).
  const largest = Math.max(...splitList.map((s) => s.train.length));
  const inline = stepMultiplyAdds(models, Math.min(flags.batchSize, largest), [dataset.features, ...flags.hidden, dataset.classes]) <= SMALL_STEP_MULTIPLY_ADDS;
  const gpu = await pickDevice(flags.device, inline);
  let tiles = '';
  if (gpu) {
    options.gpu = gpu;
    // Tiles measured by `altreg tune` on this adapter, when there are current ones.
    const saved = applySavedTuning(gpu);
    if (saved.tuning) tiles = `, matmul ${describeStrategy(saved.tuning.best)} (tuned)`;
    else if (!saved.reason.startsWith('no tuning') && !flags.quiet) process.stderr.write(`altreg: default matmul tiles: ${saved.reason}\n`);
    // Shapes this adapter cannot run, named by their flags (the library would name its options).
    const layout = mlpLayout(dataset.features, dataset.classes, options.model);
    const problem = cpuAdapterProblem(gpu, layout, { asked: flags.batchSize, largestSet: largest }, cliLimitNames(flags, dataset));
    if (problem) throw new UsageError(problem);
  } else options.device = 'cpu';
  const modes = new Set(arms.map((a) => a.penalty.mode)).size;
  if (!flags.quiet) {
    const what = `${plural(models, 'model')} (${plural(arms.length, 'arm')} × ${plural(splits, 'fold')})${resumedEpochs > 0 ? `, resumed after ${plural(resumedEpochs, 'epoch')},` : ''}`;
    const thread = gpu && /llvmpipe/i.test(gpu.name) && process.env.LP_NUM_THREADS === '0' ? ', compute on this thread (LP_NUM_THREADS=0)' : '';
    process.stderr.write(`altreg: training ${what} on ${describeData(dataset)}, ${gpu ? gpu.name : 'the CPU reference trainer'}${tiles}${thread}\n`);
  }
  // The epochs of the whole run, as the heading and the report count them (a resumed run's first is resumedEpochs + 1).
  const progress = createProgress((resumedEpochs + flags.epochs) * modes, plural(models, 'model'), !!flags.quiet, process.stderr, resumedEpochs * modes, notWritten(flags));
  options.onEpoch = (epoch, records) => progress.epoch(epoch, records);
  options.onStep = (_, step, steps) => progress.step(step, steps);
  let result: ExperimentResult;
  try {
    result = await runExperiment(options);
  } finally {
    progress.stop();
  }
  if (!flags.quiet) process.stderr.write(`altreg: ${result.seconds.toFixed(1)} s on ${result.adapter ?? 'the CPU'}\n`);
  // Files first: a report that cannot be printed (a full disk, a closed pipe) loses nothing else;
  // and a file that cannot be written loses not the report: it is printed, then the failures.
  const failures: string[] = [];
  if (flags.save !== undefined) {
    const save = flags.save;
    const run: RunRecord = { format: 'altreg-cli-run', version: 1, epochs: resumedEpochs + flags.epochs, flags: record };
    try {
      // Every checkpoint is replaced, the run record last, so the folder never holds two runs'
      // checkpoints (a failed save leaves the previous ones as they were; see replaceDir).
      await replaceDir('--save', save, async (temp) => {
        for (const [a, arm] of result.arms.entries()) {
          for (const [s, fold] of arm.folds.entries()) await saveCheckpoint(checkpointDir(temp, arms, a, s, folds), fold.run.checkpoint());
        }
        await writeFileAtomic(join(temp, RUN_FILE), `${JSON.stringify(run, null, 2)}\n`);
      });
      if (!flags.quiet) process.stderr.write(`altreg: saved ${plural(models, 'checkpoint')} under ${save}\n`);
    } catch (error) {
      failures.push((error as Error).message);
    }
  }
  if (writeJson) {
    try {
      // Arrays of numbers (confusion matrices, histories' masks) on one line each: see jsonText.
      await writeJson(jsonText(resultJson(result, dataset, flags)) + '\n');
      if (!flags.quiet) process.stderr.write(`altreg: wrote ${wroteWhat(flags.json!)}\n`);
    } catch (error) {
      failures.push((error as Error).message);
    }
  }
  try {
    await reportOut(flags.json)(print(result, dataset, resumedEpochs));
  } catch (error) {
    failures.push((error as Error).message);
  }
  if (failures.length > 0) throw new Error(failures.join('; '));
  return 0;
}

/** What a run stopped during training has not written, for the line that says so: every output is written after it. */
function notWritten(flags: ExperimentFlags): string {
  const outputs = [...(flags.save !== undefined ? [`saved to ${flags.save}`] : []), ...(flags.json !== undefined ? [`written to ${isStdout(flags.json) ? 'stdout' : flags.json}`] : [])];
  return outputs.length > 0 ? `nothing was ${outputs.join(' or ')}` : '';
}

/** Finishes or undoes a save into `dir` that was cut short (recoverSaveDir), saying so. */
function recoverBeforeUse(flag: string, dir: string, quiet: boolean | undefined): void {
  let done: string;
  try {
    done = recoverSaveDir(dir);
  } catch (error) {
    throw new UsageError(`${flag}: ${dir} holds the working folders of a save that was cut short, and they cannot be dealt with (${errorCode(error)}); make ${dir} writable`);
  }
  if (done && !quiet) process.stderr.write(`altreg: ${flag} ${dir}: ${done}\n`);
}

/**
 * Where the report goes: stdout, but stderr when `--json` goes to stdout, so that stdout is JSON
 * alone (`--json - | jq`).
 */
function reportOut(json: string | undefined): (text: string) => Promise<void> {
  if (json === undefined || !isStdout(json)) return writeStdout;
  return (text) => new Promise((done) => process.stderr.write(text, () => done()));
}

function wroteWhat(json: string): string {
  return isStdout(json) ? 'the JSON to stdout' : json;
}

/** The flags that set what cpuAdapterProblem's messages name. */
function cliLimitNames(flags: ExperimentFlags, dataset: Dataset): LimitNames {
  const features = `${dataset.name}'s ${dataset.features} features`;
  return {
    width: (layout, l) => (l === 0 ? features : l === layout.widths.length - 1 ? `${dataset.name}'s ${dataset.classes} classes` : `--hidden ${flags.hidden.join(',')} (layer ${l}: ${layout.widths[l]})`),
    features,
    batchSize: '--batch-size',
    cpu: '--device cpu',
  };
}

/**
 * The (repeat, fold) splits, made as runExperiment will make them; a split the data cannot give
 * is said in terms of the data and the flags rather than the split's function.
 */
function splitsFor(options: ExperimentOptions, flags: ExperimentFlags): ReturnType<typeof experimentSplits> {
  try {
    return experimentSplits(options);
  } catch (error) {
    if (!(error instanceof SplitError)) throw error;
    const steps: Partial<Record<SplitStep, string>> = {
      stratifiedSplit: 'the 80/20 holdout split',
      stratifiedKFold: `the ${flags.folds}-fold split`,
      validationSplit: `--validation ${flags.validation} of each training part`,
    };
    const step = steps[error.step];
    if (step === undefined) throw error;
    const wayOut = error.reason === 'no-validation-rows' ? '; --validation 0 holds none out' : '';
    throw new UsageError(`${flags.data} (${step}): ${error.detail}${wayOut}`);
  }
}

function resultJson(r: ExperimentResult, dataset: Dataset, flags: ExperimentFlags) {
  return {
    tool: 'altreg',
    date: new Date().toISOString(),
    data: { name: dataset.name, rows: dataset.rows, features: dataset.features, classes: dataset.classNames },
    config: { ...flags },
    device: r.device,
    adapter: r.adapter,
    seconds: r.seconds,
    arms: r.arms.map((a) => ({
      name: a.arm.name,
      penalty: { ...a.arm.penalty, schedule: scheduleLabel(a.arm.penalty.schedule ?? 'constant') },
      accuracy: a.accuracy,
      macroF1: a.macroF1,
      logLoss: a.logLoss,
      versusFirst: a.versusFirst,
      report: a.report,
      folds: a.folds.map((f) => ({
        fold: f.fold,
        repeat: f.repeat,
        rows: { train: f.trainRows, validation: f.validationRows, test: f.testRows },
        accuracy: f.report.accuracy,
        macroF1: f.report.macroAvg.f1,
        logLoss: f.logLoss,
        confusion: Array.from(f.test.confusion),
        report: f.report.classes,
        history: f.history,
      })),
    })),
  };
}

/** The penalty the flags set (λ, mode, convention, targets), without a schedule. */
function penaltyOf(flags: ExperimentFlags): PenaltyConfig {
  return { lambda: flags.l2, mode: flags.penalty, convention: flags.convention, targets: flags.targets };
}

/** An arm's penalty: the flags' with the arm's schedule and λ; `none` trains with λ 0 whatever --l2 says, and the JSON says so. */
function armPenalty(flags: ExperimentFlags, schedule: ScheduleSpec, lambda = flags.l2): PenaltyConfig {
  return { ...penaltyOf(flags), lambda: schedule === 'none' ? 0 : lambda, schedule };
}

function armFor(flags: ExperimentFlags, schedule: string, field: string): Arm {
  const spec = parseSchedule(schedule, field);
  return { name: scheduleLabel(spec), penalty: armPenalty(flags, spec) };
}

export async function runTrain(flags: ExperimentFlags & { schedule: string }): Promise<number> {
  if (flags.schedule.includes('@')) throw new UsageError(`--schedule: schedule@λ names an arm of compare; train takes its λ from --l2 (e.g. --schedule ${flags.schedule.slice(0, flags.schedule.lastIndexOf('@')).trim() || 'constant'} --l2 ${flags.schedule.slice(flags.schedule.lastIndexOf('@') + 1).trim() || '0.01'})`);
  const arms = [armFor(flags, flags.schedule, '--schedule')];
  return runExperimentCommand(flags, 'train', arms, arms[0].penalty.schedule !== 'none', (r, data) => {
    const arm = r.arms[0];
    const where = r.folds > 1 ? `mean ± std over ${r.repeats > 1 ? `${r.repeats}×` : ''}${r.folds}-fold cross-validation test folds` : 'holdout test set';
    const report = r.folds > 1 || r.repeats > 1 ? formatAveragedReport(arm.report) : arm.folds[0].report.text;
    const penalty = arm.arm.penalty.schedule === 'none' ? 'no penalty' : `${arm.arm.name} L2, λ ${flags.l2}`;
    const illDefined = formatIllDefined(arm);
    return `Classification report (${penalty}, ${where}; ${data.name}):\n\n${report}\nlog-loss ${arm.logLoss.mean.toFixed(4)}${Number.isNaN(arm.logLoss.std) ? '' : ` ± ${arm.logLoss.std.toFixed(4)}`}\n${illDefined ? `\n${illDefined}` : ''}`;
  });
}

/** The arm `--report` names, spelled as --schedules takes it (`constant@7.5e-3` is `constant@0.0075`). */
function reportedArm(report: string, arms: ArmText[], lambda: number): number {
  let wanted: ArmText[] = [];
  try {
    wanted = parseArms(report, '--report', lambda);
  } catch (error) {
    if (!(error instanceof ScheduleError)) throw error;
  }
  const index = wanted.length === 1 ? arms.findIndex((a) => armKey(a, lambda) === armKey(wanted[0], lambda)) : -1;
  if (index < 0) throw new UsageError(`--report must name one of the compared arms (${arms.map((a) => a.name).join(', ')}), got '${report}'`);
  return index;
}

/**
 * A note naming the matched controls the comparison lacks: plain L2 as strong on average as each
 * schedule that switches terms (missingControls), over the run's epochs. Without one, a gain over
 * plain L2 at the same λ may only mean that λ was too strong. Empty when every control is listed.
 * A resumed comparison keeps its arms, so its note speaks of a new comparison.
 */
function missingControlsNote(arms: ArmText[], flags: ExperimentFlags, data: Dataset, epochs: number, resumed: boolean): string {
  const layout = mlpLayout(data.features, data.classes, { hidden: flags.hidden, activation: flags.activation });
  const missing = missingControls(arms, flags.l2, layout, flags.targets, epochs, flags.seed);
  if (missing.length === 0) return '';
  const it = missing.length === 1 ? 'it' : 'them';
  const advice = resumed ? `A new comparison can list ${it} in --schedules (a resumed one keeps its arms).` : `Add ${it} to --schedules.`;
  return `\n${describeMissingControls(missing, epochs)} ${advice}\n`;
}

export async function runCompare(flags: ExperimentFlags & { schedules: string; report?: string }): Promise<number> {
  const parsed = parseArms(flags.schedules, '--schedules', flags.l2);
  if (parsed.length < 1) throw new UsageError('--schedules needs at least one schedule, e.g. none,constant,alternate');
  const arms = parsed.map((a) => ({ name: a.name, penalty: armPenalty(flags, a.schedule, a.lambda) }));
  const reported = flags.report === undefined ? (arms.length === 1 ? 0 : undefined) : reportedArm(flags.report, parsed, flags.l2);
  const usesL2 = parsed.some((a) => a.schedule !== 'none' && a.lambda === undefined);
  return runExperimentCommand(flags, 'compare', arms, usesL2, (r, data, resumedEpochs) => {
    const epochs = resumedEpochs > 0 ? `${resumedEpochs + flags.epochs} epochs (${flags.epochs} after resuming)` : plural(flags.epochs, 'epoch');
    let text = `Schedules compared on ${data.name} (${flags.hidden.join('-')} hidden, ${flags.activation}, Adam lr ${flags.lr}, ${describeLambda(parsed, flags.l2)}, ${flags.penalty}/${flags.convention}, ${epochs}, batch ${flags.batchSize}):\n\n${formatComparison(r)}\n`;
    text += missingControlsNote(parsed, flags, data, resumedEpochs + flags.epochs, resumedEpochs > 0);
    if (reported !== undefined) {
      const arm = r.arms[reported];
      const shown = arm.arm.name;
      const report = r.folds > 1 ? formatAveragedReport(arm.report) : arm.folds[0].report.text;
      text += `\nClassification report of the ${shown} arm (${r.folds > 1 ? 'mean ± std over folds' : 'holdout test set'}):\n\n${report}`;
      const illDefined = formatIllDefined(arm);
      if (illDefined) text += `\n${illDefined}`;
    }
    return text;
  });
}

/** Flags of `altreg tune`. */
export interface TuneFlags {
  runs: number;
  save: boolean;
  json?: string;
  quiet?: boolean;
}

export async function runTune(flags: TuneFlags): Promise<number> {
  const writeJson = flags.json !== undefined ? planOutputFile('--json', flags.json) : null;
  const file = tuningCacheFile();
  if (flags.save) {
    // The cache folder is made before the timing, so an unusable one costs no timing.
    try {
      ensureDir(dirname(file));
    } catch (error) {
      throw new UsageError(`cannot create the tuning cache folder ${dirname(file)} (${errorCode(error)}); set ALTREG_CACHE_DIR to a writable folder, or pass --no-save`);
    }
    planOutputFile('the tuning cache', file);
  }
  const gpu = await sharedGpu();
  if (!flags.quiet) process.stderr.write(`altreg: timing matmul tile candidates on ${gpu.name}\n`);
  const tuning = await tuneMatmul(gpu, {
    runs: flags.runs,
    onCandidate: (done, total, timing) => {
      if (!flags.quiet) process.stderr.write(`altreg: candidate ${done}/${total}: ${describeStrategy(timing.strategy)}: ${timing.score.toFixed(2)} GFLOP/s (geometric mean)\n`);
    },
  });
  const report = reportOut(flags.json);
  await report(formatTuning(tuning, gpu.name));
  if (flags.save) {
    await saveTuning(file, tuning);
    await report(`saved to ${file}: train, compare and demo use ${describeStrategy(tuning.best)} on this adapter\n`);
  }
  if (writeJson) {
    await writeJson(`${JSON.stringify({ ...tuning, adapterInfo: gpu.adapter }, null, 2)}\n`);
    if (!flags.quiet) process.stderr.write(`altreg: wrote ${wroteWhat(flags.json!)}\n`);
  }
  return 0;
}
