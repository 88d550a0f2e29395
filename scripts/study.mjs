#!/usr/bin/env node
// `npm run study`: does a schedule (alternating L2 by default) help? For every data set and λ it
// trains four arms on the same repeated stratified k folds and seeds (runExperiment, as
// `altreg compare` does):
//   constant           plain L2 at λ, the baseline;
//   the schedule       e.g. alternating L2 at λ;
//   constant@matched   plain L2 at the schedule's mean strength (λ times the mean fraction of
//                      terms the schedule keeps on over the run: 0.75 for alternate with two
//                      kernels; P for random:P);
//   none               no penalty.
// It prints a markdown table per data set with the paired differences that answer the questions
// (schedule − constant, schedule − constant@matched, none − constant) and their p from the
// corrected resampled t-test, and writes every arm's per-fold numbers as JSON.

import { existsSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DATASET_NAMES, formatPairedDifference, isLambda, loadDataset, mlpLayout, pairedTTest, parseSchedule, requireRowsPerClass, runExperiment, scheduleLabel, scheduleShares } from '../dist/index.js';

const HELP = `usage: npm run study -- [options]

Trains constant L2, a schedule, constant L2 at the schedule's mean strength, and no penalty on
the same repeated stratified k folds, for every data set and λ, and prints the paired differences
(markdown) with p from the corrected resampled t-test.

  --schedule <s>     the schedule studied: alternate, rotate, parity, random:P, early:E
                     (default: alternate)
  --datasets <list>  comma-separated, of ${DATASET_NAMES.join(', ')} (default: all)
  --lambdas <list>   L2 strengths λ, comma-separated (default: 0.001,0.01,0.1)
  --penalty <mode>   coupled (L2 in the gradient) or decoupled (AdamW's decay) (default: coupled)
  --hidden <widths>  hidden layer widths, comma-separated (default: 10)
  --epochs <n>       (default: 300)
  --lr <x>           Adam learning rate (default: 0.001)
  --batch-size <n>   (default: 16)
  --folds <k>        (default: 10)
  --repeats <n>      repeats of the k-fold with new shuffles (default: 3)
  --seed <n>         (default: 0)
  --device <which>   auto, gpu or cpu (default: auto)
  --json <file>      also write every arm's per-fold numbers (written atomically)
  -h, --help`;

function fail(message) {
  process.stderr.write(`study: ${message}\n`);
  process.exit(2);
}

function list(name, text, parse) {
  const items = text.split(',').map((t) => t.trim()).filter(Boolean);
  if (items.length === 0) fail(`--${name} needs at least one value`);
  return items.map((t) => parse(t, name));
}

function integer(text, name, min) {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min) fail(`--${name} must be an integer ≥ ${min}, got '${text}'`);
  return n;
}
const positive = (text, name) => integer(text, name, 1);

function decimal(text, name) {
  const n = Number(text);
  if (!/^[+]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) || !Number.isFinite(n)) fail(`--${name} must be a decimal number ≥ 0, got '${text}'`);
  return n;
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      schedule: { type: 'string', default: 'alternate' },
      datasets: { type: 'string', default: DATASET_NAMES.join(',') },
      penalty: { type: 'string', default: 'coupled' },
      lambdas: { type: 'string', default: '0.001,0.01,0.1' },
      hidden: { type: 'string', default: '10' },
      epochs: { type: 'string', default: '300' },
      lr: { type: 'string', default: '0.001' },
      'batch-size': { type: 'string', default: '16' },
      folds: { type: 'string', default: '10' },
      repeats: { type: 'string', default: '3' },
      seed: { type: 'string', default: '0' },
      device: { type: 'string', default: 'auto' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (error) {
  // `--lambdas -1` reads as a missing value followed by an unknown option: say what is valid.
  const flag = /Option '(--[\w-]+)/.exec(error.message)?.[1];
  const value = flag ? process.argv[process.argv.indexOf(flag) + 1] : undefined;
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && value?.startsWith('-')) fail(`${flag} takes no negative values, got '${value}' (see --help)`);
  fail(`${error.message} (see --help)`);
}
if (values.help) {
  console.log(HELP);
  process.exit(0);
}

const datasets = list('datasets', values.datasets, (t) => (DATASET_NAMES.includes(t) ? t : fail(`--datasets: unknown data set '${t}'; valid: ${DATASET_NAMES.join(', ')}`)));
const lambdas = list('lambdas', values.lambdas, (t, name) => {
  const l = decimal(t, name);
  // λ 0 (or one too small to tell from it) would train every arm as none.
  if (l === 0 || !isLambda(l)) fail(`--lambdas must be numbers above 0 up to 1.7e38 (2λ must fit in a float32), got '${t}'`);
  return l;
});
const twice = lambdas.find((l, i) => lambdas.indexOf(l) !== i);
if (twice !== undefined) fail(`--lambdas lists ${twice} twice; list each λ once`);
const hidden = list('hidden', values.hidden, positive);
const [epochs, batchSize, repeats] = ['epochs', 'batch-size', 'repeats'].map((k) => positive(values[k], k));
const folds = integer(values.folds, 'folds', 2);
const lr = decimal(values.lr, 'lr');
if (!(lr > 0)) fail(`--lr must be a number > 0, got '${values.lr}'`);
const seed = integer(values.seed, 'seed', 0);
if (!['auto', 'gpu', 'cpu'].includes(values.device)) fail(`--device must be auto, gpu or cpu, got '${values.device}'`);
if (!['coupled', 'decoupled'].includes(values.penalty)) fail(`--penalty must be coupled or decoupled, got '${values.penalty}'`);
const mode = values.penalty;
let schedule;
try {
  schedule = parseSchedule(values.schedule, '--schedule');
} catch (error) {
  fail(error.message);
}
if (schedule === 'constant' || schedule === 'none') fail(`--schedule must be a schedule to hold against constant and none, got '${values.schedule}'`);
const studied = scheduleLabel(schedule);
const model = { hidden, activation: 'relu' };
// The JSON's place is checked now, not after minutes of training.
if (values.json !== undefined) {
  const target = resolve(values.json);
  if (!existsSync(dirname(target)) || !statSync(dirname(target)).isDirectory()) fail(`--json: the folder ${dirname(target)} does not exist`);
  if (existsSync(target) && statSync(target).isDirectory()) fail(`--json: ${target} is a folder; give a file name`);
}

// The share of the run's epochs each kernel term is on (random:P: P). The number of terms, one
// kernel per layer, does not depend on the data set. The control trains at exactly λ × the mean
// share (the CLI's and the app's matchedControl round it to 6 digits for its name).
const { shares } = scheduleShares(mlpLayout(1, 2, model), { schedule }, seed, epochs);
const keep = shares.reduce((a, b) => a + b, 0) / shares.length;
const shown = (x) => String(Number(x.toPrecision(4)));
if (keep === 0 || keep === 1) {
  fail(`--schedule ${values.schedule} keeps every term ${keep === 0 ? 'off' : 'on'} ${epochs === 1 ? 'in the only epoch' : `for all ${epochs} epochs`}: it trains as ${keep === 0 ? 'none' : 'constant'}; choose a schedule that switches terms`);
}
// Unequal shares (parity over an odd number of epochs): the control matches their mean.
const matchedText = `λ × ${shown(keep)}${shares.some((x) => x !== shares[0]) ? ` (the mean of the terms' shares ${shares.map(shown).join(', ')})` : ''}`;

// formatComparison's cells: accuracy in percentage points to 1 decimal, log-loss to 3.
const cell = (t, scale = 1) => formatPairedDifference(t, scale === 1 ? 3 : 1, scale);

// Every data set is loaded and its folds checked before the first model trains.
const loaded = [];
for (const name of datasets) {
  const dataset = await loadDataset(name);
  try {
    requireRowsPerClass(dataset, folds);
  } catch (error) {
    fail(`--folds: ${error.message}`);
  }
  loaded.push([name, dataset]);
}

const started = performance.now();
const results = [];
const lines = [];
for (const [name, dataset] of loaded) {
  lines.push(
    `### ${name} (${dataset.rows} rows, ${dataset.features} features, ${dataset.classes} classes)`,
    '',
    `Accuracy in percentage points, log-loss in units; Δ is the mean paired difference over ${repeats}×${folds} folds, p from the corrected resampled t-test. constant@matched: ${matchedText}.`,
    '',
    `| λ | constant: accuracy | constant: log-loss | ${studied} − constant: Δ accuracy | Δ log-loss | ${studied} − constant@matched: Δ accuracy | Δ log-loss | none − constant: Δ accuracy | Δ log-loss |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const lambda of lambdas) {
    const t0 = performance.now();
    const arms = [
      { name: 'constant', penalty: { lambda, mode, schedule: 'constant' } },
      { name: studied, penalty: { lambda, mode, schedule } },
      { name: 'constant@matched', penalty: { lambda: lambda * keep, mode, schedule: 'constant' } },
      { name: 'none', penalty: { lambda: 0, mode, schedule: 'none' } },
    ];
    let r;
    try {
      r = await runExperiment({ dataset, model, arms, folds, repeats, epochs, batchSize, optimizer: { lr }, seed, device: values.device });
    } catch (error) {
      // The library's own checks name what is wrong (too many folds for a class, a width limit).
      if (/Error$/.test(error?.name) && error.name !== 'Error' && error.name !== 'GpuError' && error.name !== 'DivergenceError') fail(`${name}, λ ${lambda}: ${error.message}`);
      throw error;
    }
    const [constant, studiedArm, matched, none] = r.arms;
    const ratio = studiedArm.versusFirst.accuracy.testTrainRatio;
    const metric = {
      accuracy: (a) => a.folds.map((f) => f.report.accuracy),
      logLoss: (a) => a.folds.map((f) => f.logLoss),
    };
    const versusMatched = {
      accuracy: pairedTTest(metric.accuracy(matched), metric.accuracy(studiedArm), ratio),
      logLoss: pairedTTest(metric.logLoss(matched), metric.logLoss(studiedArm), ratio),
    };
    lines.push(
      `| ${lambda} | ${(constant.accuracy.mean * 100).toFixed(1)} ± ${(constant.accuracy.std * 100).toFixed(1)} % | ${constant.logLoss.mean.toFixed(3)} ± ${constant.logLoss.std.toFixed(3)} | ` +
        `${cell(studiedArm.versusFirst.accuracy, 100)} | ${cell(studiedArm.versusFirst.logLoss)} | ${cell(versusMatched.accuracy, 100)} | ${cell(versusMatched.logLoss)} | ` +
        `${cell(none.versusFirst.accuracy, 100)} | ${cell(none.versusFirst.logLoss)} |`,
    );
    results.push({
      dataset: name,
      lambda,
      matchedLambda: lambda * keep,
      device: r.device,
      adapter: r.adapter,
      seconds: r.seconds,
      versusConstant: { schedule: studiedArm.versusFirst, none: none.versusFirst, matched: matched.versusFirst },
      scheduleVersusMatched: versusMatched,
      arms: r.arms.map((a) => ({ name: a.arm.name, lambda: a.arm.penalty.lambda, schedule: scheduleLabel(a.arm.penalty.schedule), accuracy: metric.accuracy(a), logLoss: metric.logLoss(a) })),
    });
    process.stderr.write(`study: ${name}, λ ${lambda}: ${r.arms.length * folds * repeats} models in ${((performance.now() - t0) / 1000).toFixed(1)} s on ${r.adapter ?? r.device}\n`);
  }
  lines.push('');
}

const penalty = mode === 'coupled' ? 'coupled L2 (keras convention)' : 'decoupled L2 (AdamW decay)';
const setup = `${hidden.join('-')} hidden relu, Adam lr ${lr}, batch ${batchSize}, ${epochs} epochs, ${penalty} on the kernels, ${repeats}×${folds}-fold, seed ${seed}`;
process.stdout.write(`## altreg study of ${studied}: ${setup}\n\n${lines.join('\n')}`);
process.stderr.write(`study: done in ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
if (values.json) {
  const tmp = `${values.json}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify({ tool: 'altreg study', date: new Date().toISOString(), setup: { schedule: studied, penalty: mode, hidden, epochs, lr, batchSize, folds, repeats, seed, lambdas, datasets }, results }, null, 1));
  renameSync(tmp, values.json);
}
process.exit(0); // Dawn can keep Node's event loop alive
