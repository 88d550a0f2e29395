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
// (schedule − constant, schedule − constant@matched, none − constant), each with its 95%
// confidence interval and p from the corrected resampled t-test, and p adjusted by Holm's method
// over every test of the run; it writes every arm's per-fold numbers as JSON. `--from-json`
// prints the same tables again from such a JSON, recomputing every test from its per-fold numbers.

import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DATASET_NAMES, formatInterval, formatP, formatSigned, holmAdjust, isLambda, kernels, loadDataset, meanStd, mlpLayout, pairedTTest, parseSchedule, requireRowsPerClass, runExperiment, scheduleLabel, scheduleShares } from '../dist/index.js';

const HELP = `usage: npm run study -- [options]
       npm run study -- --from-json <file>

Trains constant L2, a schedule, constant L2 at the schedule's mean strength, and no penalty on
the same repeated stratified k folds, for every data set and λ, and prints the paired differences
(markdown) with their 95% confidence intervals and p from the corrected resampled t-test, and p
adjusted by Holm's method over all the tests printed.

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
  --from-json <file> train nothing: print the tables of a study from the JSON it wrote,
                     every test recomputed from its per-fold numbers (takes no other option)
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

// The tables' three questions: [label, arm of b, arm of a] of the paired difference b − a.
const QUESTIONS = [
  ['schedule − constant', 1, 0],
  ['schedule − constant@matched', 1, 2],
  ['none − constant', 3, 0],
];
const METRICS = ['accuracy', 'logLoss'];

/**
 * The paired tests of one data set and λ, recomputed from the arms' per-fold numbers (arms in
 * the order constant, schedule, constant@matched, none): tests[question][metric].
 */
function settingTests(result) {
  return QUESTIONS.map(([, b, a]) => Object.fromEntries(METRICS.map((m) => [m, pairedTTest(result.arms[a][m], result.arms[b][m], result.testTrainRatio)])));
}

/** The shares of the run's epochs each kernel term is on, and their mean (what the control keeps). */
function matchedShare(schedule, hidden, seed, epochs) {
  // One kernel per layer: the number of terms does not depend on the data set.
  const { shares } = scheduleShares(mlpLayout(1, 2, { hidden, activation: 'relu' }), { schedule }, seed, epochs);
  return { shares, keep: shares.reduce((a, b) => a + b, 0) / shares.length };
}

/**
 * The markdown of a study: a table per data set of every λ's paired differences, with 95% CIs,
 * p and Holm's p over every test printed, and those adjusted p for each result (pHolm). One
 * function for the run that trains and for --from-json, so that both print the same text.
 */
function studyMarkdown(setup, results, shapes) {
  const { shares, keep } = matchedShare(parseSchedule(setup.schedule, 'the schedule'), setup.hidden, setup.seed, setup.epochs);
  const shown = (x) => String(Number(x.toPrecision(4)));
  // Unequal shares (parity over an odd number of epochs): the control matches their mean.
  const matchedText = `λ × ${shown(keep)}${shares.some((x) => x !== shares[0]) ? ` (the mean of the terms' shares ${shares.map(shown).join(', ')})` : ''}`;
  const tests = results.map(settingTests);
  // Holm over every test of the tables (NaN, a p that equal nonzero differences lack, is left out).
  const flat = tests.flatMap((q) => q.flatMap((t) => METRICS.map((m) => t[m].p)));
  const adjusted = holmAdjust(flat);
  const family = flat.filter((p) => !Number.isNaN(p)).length;
  const holm = (i, j, k) => adjusted[(i * QUESTIONS.length + j) * METRICS.length + k];
  const pHolm = results.map((r, i) => Object.fromEntries(['scheduleVersusConstant', 'scheduleVersusMatched', 'noneVersusConstant'].map((q, j) => [q, Object.fromEntries(METRICS.map((m, k) => [m, holm(i, j, k)]))])));
  const studied = setup.schedule;
  const penalty = setup.penalty === 'coupled' ? 'coupled L2 (keras convention)' : 'decoupled L2 (AdamW decay)';
  const title = `${setup.hidden.join('-')} hidden relu, Adam lr ${setup.lr}, batch ${setup.batchSize}, ${setup.epochs} epochs, ${penalty} on the kernels, ${setup.repeats}×${setup.folds}-fold, seed ${setup.seed}`;
  const lines = [`## altreg study of ${studied}: ${title}`, ''];
  // Accuracy in percentage points to 1 decimal, log-loss to 3 (formatComparison's cells). Fold
  // accuracies whose differences cancel leave a mean of rounding noise: pairedTTest gives it as 0.
  const cells = (t, m, holm) => {
    const [digits, scale] = m === 'accuracy' ? [1, 100] : [3, 1];
    return [formatSigned(t.meanDiff * scale, digits), formatInterval(t, digits, scale), formatP(t.p), formatP(holm)];
  };
  const names = [...new Set(results.map((r) => r.dataset))];
  for (const name of names) {
    const { rows, features, classes } = shapes.get(name);
    lines.push(
      `### ${name} (${rows} rows, ${features} features, ${classes} classes)`,
      '',
      `Accuracy in percentage points, log-loss in units. Δ is the mean paired difference over ${setup.repeats}×${setup.folds} folds; its 95% CI and p are from the corrected resampled t-test; Holm p is p adjusted by Holm's method over all ${family} tests of this study. constant@matched: ${matchedText}.`,
      '',
      '| λ | constant: accuracy | constant: log-loss | difference | Δ accuracy | 95% CI | p | Holm p | Δ log-loss | 95% CI | p | Holm p |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    );
    results.forEach((r, i) => {
      if (r.dataset !== name) return;
      const acc = meanStd(r.arms[0].accuracy);
      const loss = meanStd(r.arms[0].logLoss);
      QUESTIONS.forEach(([label], j) => {
        const first = j === 0 ? [`${(acc.mean * 100).toFixed(1)} ± ${(acc.std * 100).toFixed(1)} %`, `${loss.mean.toFixed(3)} ± ${loss.std.toFixed(3)}`] : ['', ''];
        const row = [r.lambda, ...first, label.replace('schedule', studied), ...METRICS.flatMap((m, k) => cells(tests[i][j][m], m, holm(i, j, k)))];
        lines.push(`| ${row.join(' | ')} |`);
      });
    });
    lines.push('');
  }
  return { text: lines.join('\n'), pHolm };
}

let values;
let tokens;
try {
  ({ values, tokens } = parseArgs({
    tokens: true,
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
      'from-json': { type: 'string' },
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

if (values['from-json'] !== undefined) {
  const file = values['from-json'];
  const other = tokens.find((t) => t.kind === 'option' && t.name !== 'from-json');
  if (other) fail(`--from-json takes the study's settings from its file; drop --${other.name}`);
  let study;
  try {
    study = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    fail(`--from-json: ${error.code === 'ENOENT' ? `no file ${file}` : error.code === 'EISDIR' ? `${file} is a folder` : `${file}: ${error.message}`}`);
  }
  const bad = (what) => fail(`--from-json: ${file}: ${what}; expected the JSON that \`npm run study -- --json\` writes`);
  const setup = study?.setup;
  if (typeof setup !== 'object' || setup === null || !Array.isArray(study.results) || study.results.length === 0) bad('no setup or no results');
  // The values the flags take (epochs up to train's limit): out of them, a setting failed inside
  // the library with its stack, or (epochs 1e9) had the schedule's shares computed for hours.
  for (const [key, min, max] of [['epochs', 1, 1_000_000], ['batchSize', 1], ['folds', 2], ['repeats', 1], ['seed', 0]]) {
    const v = setup[key];
    if (!Number.isSafeInteger(v) || v < min || v > (max ?? Infinity)) bad(`setup.${key} must be an integer ${max ? `in [${min}, ${max}]` : `≥ ${min}`}, got ${JSON.stringify(v)}`);
  }
  if (typeof setup.lr !== 'number' || !(setup.lr > 0) || kernels.float32PositiveProblem(setup.lr, true) !== null) bad(`setup.lr must be a number > 0, got ${JSON.stringify(setup.lr)}; valid: ${kernels.LR_RANGE}`);
  if (!Array.isArray(setup.hidden) || setup.hidden.length < 1 || setup.hidden.length > 30 || !setup.hidden.every((w) => Number.isSafeInteger(w) && w >= 1 && w <= 65536)) {
    bad(`setup.hidden must list 1 to 30 widths, each an integer in [1, 65536], got ${JSON.stringify(setup.hidden)}`);
  }
  if (!['coupled', 'decoupled'].includes(setup.penalty)) bad(`setup.penalty must be coupled or decoupled, got ${JSON.stringify(setup.penalty)}`);
  if (!Array.isArray(setup.datasets) || !setup.datasets.every((d) => DATASET_NAMES.includes(d))) bad(`setup.datasets must list data sets of ${DATASET_NAMES.join(', ')}, got ${JSON.stringify(setup.datasets)}`);
  if (!Array.isArray(setup.lambdas) || !setup.lambdas.every((l) => isLambda(l) && l > 0)) bad(`setup.lambdas must list numbers above 0 up to 1.7e38, got ${JSON.stringify(setup.lambdas)}`);
  let schedule;
  let keep;
  try {
    if (typeof setup.schedule !== 'string') throw new Error(`setup.schedule must be a schedule's name, got ${JSON.stringify(setup.schedule)}`);
    schedule = parseSchedule(setup.schedule, 'setup.schedule');
    ({ keep } = matchedShare(schedule, setup.hidden, setup.seed, setup.epochs));
  } catch (error) {
    bad(error.message);
  }
  const arms = ['constant', scheduleLabel(schedule), 'constant@matched', 'none'];
  const results = study.results.map((r, i) => {
    const where = `results[${i}]`;
    if (!DATASET_NAMES.includes(r?.dataset)) bad(`${where}.dataset is ${JSON.stringify(r?.dataset)}`);
    if (!Array.isArray(r.arms) || r.arms.map((a) => a?.name).join() !== arms.join()) bad(`${where}'s arms are not ${arms.join(', ')}`);
    // The folds' test rows over training rows, as runExperiment used it for every test.
    const testTrainRatio = r.versusConstant?.schedule?.accuracy?.testTrainRatio;
    if (!(typeof testTrainRatio === 'number' && testTrainRatio >= 0 && Number.isFinite(testTrainRatio))) bad(`${where} has no versusConstant.schedule.accuracy.testTrainRatio`);
    if (!(isLambda(r.lambda) && r.lambda > 0)) bad(`${where}.lambda must be a number above 0 up to 1.7e38, got ${JSON.stringify(r.lambda)}`);
    if (!(Math.abs(r.matchedLambda - r.lambda * keep) <= 1e-12 * r.lambda)) bad(`${where}'s matchedLambda ${r.matchedLambda} is not λ ${r.lambda} × ${keep}, the mean share of ${setup.schedule}`);
    const n = setup.repeats * setup.folds;
    for (const a of r.arms) {
      for (const m of METRICS) {
        const scores = a[m];
        if (!Array.isArray(scores) || scores.length !== n) bad(`${where}: ${a.name}'s ${m} is not ${n} per-fold numbers (${setup.repeats}×${setup.folds} folds), got ${Array.isArray(scores) ? scores.length : JSON.stringify(scores)}`);
        // An accuracy is a fraction of the test rows, a log-loss a mean of −log p.
        const k = scores.findIndex((x) => !(Number.isFinite(x) && x >= 0 && (m !== 'accuracy' || x <= 1)));
        if (k >= 0) bad(`${where}: ${a.name}'s ${m}[${k}] is ${JSON.stringify(scores[k])}; ${m === 'accuracy' ? 'an accuracy is a number in [0, 1]' : 'a log-loss is a number ≥ 0'}`);
      }
    }
    return { dataset: r.dataset, lambda: r.lambda, testTrainRatio, arms: r.arms };
  });
  // Every data set at every λ of the setup, once: Holm's p counts the tests of all of them.
  const settings = results.map((r) => `${r.dataset} at λ ${r.lambda}`);
  const twice = settings.findIndex((x, i) => settings.indexOf(x) !== i);
  if (twice >= 0) bad(`results[${twice}] repeats ${settings[twice]} (results[${settings.indexOf(settings[twice])}])`);
  const listed = setup.datasets.flatMap((d) => setup.lambdas.map((l) => `${d} at λ ${l}`));
  const unlisted = settings.findIndex((x) => !listed.includes(x));
  if (unlisted >= 0) bad(`results[${unlisted}] is ${settings[unlisted]}, which setup.datasets and setup.lambdas do not list`);
  const missing = listed.filter((x) => !settings.includes(x));
  if (missing.length > 0) bad(`results lack ${missing.join(', ')}, which setup.datasets and setup.lambdas list`);
  const shapes = new Map();
  for (const name of new Set(results.map((r) => r.dataset))) shapes.set(name, await loadDataset(name));
  process.stdout.write(studyMarkdown({ ...setup, schedule: scheduleLabel(schedule) }, results, shapes).text);
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
// The GPU holds it in float32 and may flush a subnormal one to 0 (1e-50 and 1e-40 would train nothing).
const lrProblem = kernels.float32PositiveProblem(lr, true);
if (lrProblem !== null) fail(`--lr must be a number > 0, got '${values.lr}', ${lrProblem}; valid: ${kernels.LR_RANGE}`);
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

// The share of the run's epochs each kernel term is on (random:P: P). The control trains at
// exactly λ × the mean share (the CLI's and the app's matchedControl round it to 6 digits for its
// name).
const { keep } = matchedShare(schedule, hidden, seed, epochs);
if (keep === 0 || keep === 1) {
  fail(`--schedule ${values.schedule} keeps every term ${keep === 0 ? 'off' : 'on'} ${epochs === 1 ? 'in the only epoch' : `for all ${epochs} epochs`}: it trains as ${keep === 0 ? 'none' : 'constant'}; choose a schedule that switches terms`);
}

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
for (const [name, dataset] of loaded) {
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
    const [, studiedArm, matched, none] = r.arms;
    const perFold = r.arms.map((a) => ({ name: a.arm.name, lambda: a.arm.penalty.lambda, schedule: scheduleLabel(a.arm.penalty.schedule), accuracy: a.folds.map((f) => f.report.accuracy), logLoss: a.folds.map((f) => f.logLoss) }));
    // The folds' test rows over training rows, as runExperiment used it for every test.
    const testTrainRatio = studiedArm.versusFirst.accuracy.testTrainRatio;
    results.push({
      dataset: name,
      lambda,
      matchedLambda: lambda * keep,
      device: r.device,
      adapter: r.adapter,
      seconds: r.seconds,
      versusConstant: { schedule: studiedArm.versusFirst, none: none.versusFirst, matched: matched.versusFirst },
      // The tables' one test that is not against the first arm, from the same per-fold numbers.
      scheduleVersusMatched: settingTests({ arms: perFold, testTrainRatio })[1],
      arms: perFold,
      testTrainRatio,
    });
    process.stderr.write(`study: ${name}, λ ${lambda}: ${r.arms.length * folds * repeats} models in ${((performance.now() - t0) / 1000).toFixed(1)} s on ${r.adapter ?? r.device}\n`);
  }
}

const setup = { schedule: studied, penalty: mode, hidden, epochs, lr, batchSize, folds, repeats, seed, lambdas, datasets };
// The tables come from the per-fold numbers that the JSON keeps, as --from-json reads them.
const { text, pHolm } = studyMarkdown(setup, results, new Map(loaded));
process.stdout.write(text);
process.stderr.write(`study: done in ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
if (values.json) {
  const tmp = `${values.json}.tmp-${process.pid}`;
  // The ratio is in every test already; the adjusted p go beside the tests, before the arms.
  const written = results.map(({ testTrainRatio, arms, ...r }, i) => ({ ...r, pHolm: pHolm[i], arms }));
  writeFileSync(tmp, JSON.stringify({ tool: 'altreg study', date: new Date().toISOString(), setup, results: written }, null, 1));
  renameSync(tmp, values.json);
}
process.exit(0); // Dawn can keep Node's event loop alive
