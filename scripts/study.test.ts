// `npm run study` on a small grid: the arms it trains (alternate's matched λ from its masks), its
// paired tests recomputed from the per-fold numbers it writes, the table against the JSON, Holm's
// adjustment over the tests of the tables, `--from-json` reprinting a study from its JSON, and
// its refusals.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatInterval, formatP, formatSigned } from '../src/experiment/format.js';
import { holmAdjust, pairedTTest, type PairedTest } from '../src/metrics/stats.js';

const root = join(import.meta.dirname, '..');
const script = join(root, 'scripts/study.mjs');
const temp = mkdtempSync(join(tmpdir(), 'altreg-study-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));
beforeAll(() => {
  if (!existsSync(join(root, 'dist/index.js'))) spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore' });
}, 120_000);

function study(...args: string[]) {
  const r = spawnSync(process.execPath, [script, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, EGL_PLATFORM: 'surfaceless' }, timeout: 120_000 });
  const stderr = r.stderr.split('\n').filter((l) => !/^Warning: |^$/.test(l)).join('\n');
  return { code: r.status, stdout: r.stdout, stderr };
}

interface Arm {
  name: string;
  lambda: number;
  schedule: string;
  accuracy: number[];
  logLoss: number[];
}
interface Result {
  dataset: string;
  lambda: number;
  matchedLambda: number;
  versusConstant: Record<'schedule' | 'none' | 'matched', { accuracy: PairedTest; logLoss: PairedTest }>;
  scheduleVersusMatched: { accuracy: PairedTest; logLoss: PairedTest };
  pHolm: Record<'scheduleVersusConstant' | 'scheduleVersusMatched' | 'noneVersusConstant', { accuracy: number; logLoss: number }>;
  arms: Arm[];
}

/** The table rows that start with λ, split into their cells after the λ. */
function tableRows(stdout: string, lambda: number) {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith(`| ${lambda} |`))
    .map((l) => l.split('|').slice(2, -1).map((c) => c.trim()));
}

/** The study of the by-hand case below: six folds (2×3) of iris at λ 0.1. */
function byHandStudy() {
  const six = (f: (i: number) => number) => Array.from({ length: 6 }, (_, i) => f(i));
  const constant = { accuracy: six(() => 0.9), logLoss: six(() => 0.3) };
  const alternate = { accuracy: six((i) => 0.9 + [0.02, 0.04][i % 2]), logLoss: six((i) => 0.3 - [0.02, 0.02, 0.04][i % 3]) };
  const arms = [
    { name: 'constant', lambda: 0.1, schedule: 'constant', ...constant },
    { name: 'alternate', lambda: 0.1, schedule: 'alternate', ...alternate },
    { name: 'constant@matched', lambda: 0.075, schedule: 'constant', ...alternate },
    { name: 'none', lambda: 0, schedule: 'none', accuracy: constant.accuracy.map((a) => a + 0.02), logLoss: constant.logLoss },
  ];
  const ratio = 0.5;
  const setup = { schedule: 'alternate', penalty: 'coupled', hidden: [10], epochs: 4, lr: 0.001, batchSize: 16, folds: 3, repeats: 2, seed: 0, lambdas: [0.1], datasets: ['iris'] };
  const result = { dataset: 'iris', lambda: 0.1, matchedLambda: 0.1 * 0.75, versusConstant: { schedule: { accuracy: { testTrainRatio: ratio } } }, arms };
  return { constant, alternate, ratio, study: { tool: 'altreg study', setup, results: [result] } };
}

describe('npm run study', () => {
  it('trains constant, alternate, constant at alternate’s mean strength and none, and prints paired tests that the JSON reproduces', () => {
    const json = join(temp, 'study.json');
    // Two hidden layers: three kernels, so alternate keeps 5 of 6 terms on (1 − 1/(2·3)).
    const r = study('--datasets', 'iris,wine', '--lambdas', '0.01,0.2', '--hidden', '6,5', '--epochs', '6', '--lr', '0.01', '--folds', '3', '--repeats', '2', '--device', 'cpu', '--json', json);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^study: iris, λ 0\.01: 24 models in [\d.]+ s on cpu$/m);
    expect(r.stderr).toMatch(/^study: done in \d+ s$/m);
    expect(readdirSync(temp)).toEqual(['study.json']);
    const results = JSON.parse(readFileSync(json, 'utf8')).results as Result[];
    expect(results.map((x) => [x.dataset, x.lambda])).toEqual([['iris', 0.01], ['iris', 0.2], ['wine', 0.01], ['wine', 0.2]]);
    expect(r.stdout).toContain('## altreg study of alternate: 6-5 hidden relu, Adam lr 0.01, batch 16, 6 epochs, coupled L2 (keras convention) on the kernels, 2×3-fold, seed 0');
    expect(r.stdout).toContain('constant@matched: λ × 0.8333.');
    // 4 settings × 3 differences × 2 metrics, adjusted together (no p is NaN here).
    expect(r.stdout).toContain("Holm p is p adjusted by Holm's method over all 24 tests of this study.");
    const ps: number[] = [];
    for (const x of results) {
      expect(x.matchedLambda).toBeCloseTo((x.lambda * 5) / 6, 15);
      expect(x.arms.map((a) => [a.name, a.schedule, a.lambda])).toEqual([
        ['constant', 'constant', x.lambda],
        ['alternate', 'alternate', x.lambda],
        ['constant@matched', 'constant', x.matchedLambda],
        ['none', 'none', 0],
      ]);
      for (const a of x.arms) expect(a.accuracy).toHaveLength(6);
      // Stratified 3-fold of iris: 50 test rows against 90 fitted on (and 10 validation rows) in
      // every fold; wine's folds differ by a row, and the ratio is their mean.
      const ratio = x.versusConstant.schedule.accuracy.testTrainRatio;
      if (x.dataset === 'iris') expect(ratio).toBeCloseTo(50 / 90, 15);
      else expect(Math.abs(ratio - 50 / 90)).toBeLessThan(0.03);
      const [constant, alternate, matched, none] = x.arms;
      expect(x.versusConstant.schedule.accuracy).toEqual(pairedTTest(constant.accuracy, alternate.accuracy, ratio));
      expect(x.versusConstant.none.logLoss).toEqual(pairedTTest(constant.logLoss, none.logLoss, ratio));
      expect(x.scheduleVersusMatched.logLoss).toEqual(pairedTTest(matched.logLoss, alternate.logLoss, ratio));
      expect(x.scheduleVersusMatched.accuracy).toEqual(pairedTTest(matched.accuracy, alternate.accuracy, ratio));
      // The penalty is felt: at λ 0.2 plain L2 raises the log-loss over no penalty after 6 epochs.
      if (x.lambda === 0.2) expect(x.versusConstant.none.logLoss.meanDiff).toBeLessThan(0);

      // The table's rows hold the same numbers: accuracy in percentage points, log-loss in units,
      // each difference with its 95% CI, p, and Holm's p (checked against the JSON's below).
      const rows = tableRows(r.stdout, x.lambda).slice(...(x.dataset === 'iris' ? [0, 3] : [3, 6]));
      const mean = (v: number[]) => v.reduce((s, a) => s + a, 0) / v.length;
      expect(rows[0][0]).toMatch(new RegExp(`^${(mean(constant.accuracy) * 100).toFixed(1)} ± \\d+\\.\\d %$`));
      expect(rows[0][1]).toMatch(new RegExp(`^${mean(constant.logLoss).toFixed(3)} ± `));
      expect(rows.map((c) => c.slice(0, 3))).toEqual([
        [rows[0][0], rows[0][1], 'alternate − constant'],
        ['', '', 'alternate − constant@matched'],
        ['', '', 'none − constant'],
      ]);
      const shown = (t: PairedTest, holm: number, scale: number, digits: number) => [formatSigned(t.meanDiff * scale, digits), formatInterval(t, digits, scale), formatP(t.p), formatP(holm)];
      const tests = [x.versusConstant.schedule, x.scheduleVersusMatched, x.versusConstant.none];
      const holm = [x.pHolm.scheduleVersusConstant, x.pHolm.scheduleVersusMatched, x.pHolm.noneVersusConstant];
      tests.forEach((t, j) => {
        expect(rows[j].slice(3)).toEqual([...shown(t.accuracy, holm[j].accuracy, 100, 1), ...shown(t.logLoss, holm[j].logLoss, 1, 3)]);
        ps.push(t.accuracy.p, t.logLoss.p);
      });
    }
    // Holm over the tables' 24 tests, in the JSON's order.
    expect(results.flatMap((x) => [x.pHolm.scheduleVersusConstant, x.pHolm.scheduleVersusMatched, x.pHolm.noneVersusConstant].flatMap((h) => [h.accuracy, h.logLoss]))).toEqual(holmAdjust(ps));

    // The tables again from the JSON alone, without training: the same text to the byte.
    const again = study('--from-json', json);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toBe('');
    expect(again.stdout).toBe(r.stdout);
  });

  it('--from-json adjusts p by Holm over the tests of its tables: a case to check by hand', () => {
    // Six folds (2×3) of iris at λ 0.1. Of the six tests of the table, alternate − constant gets
    // p_a (accuracy) and p_b (log-loss) with p_a < p_b < 5·p_a/4; alternate − constant@matched
    // and none − constant's log-loss have no difference at all (p 1); none − constant's accuracy
    // is +2 points in every fold (p n/a: no spread to test). So Holm counts m = 5 tests:
    // p_a → 5·p_a, p_b → max(5·p_a, 4·p_b) = 5·p_a, and the three p 1 stay 1. The CIs by hand:
    // accuracy differences 2, 4, 2, 4, 2, 4 points: mean 3, s 1.095, s·√(1/6 + 0.5) = 0.894, times
    // t₀.₉₇₅,₅ 2.571 is 2.30; log-loss −0.02, −0.02, −0.04 twice: mean −0.0267 ± 0.0217.
    const { constant, alternate, ratio, study: byHand } = byHandStudy();
    const json = join(temp, 'by-hand.json');
    writeFileSync(json, JSON.stringify(byHand));
    const r = study('--from-json', json);
    expect(r.code, r.stderr).toBe(0);

    const pa = pairedTTest(constant.accuracy, alternate.accuracy, ratio).p;
    const pb = pairedTTest(constant.logLoss, alternate.logLoss, ratio).p;
    expect([pa, pb].map((p) => p.toFixed(4))).toEqual(['0.0202', '0.0250']);
    expect(pa < pb && 4 * pb < 5 * pa).toBe(true);
    expect(r.stdout).toContain('## altreg study of alternate: 10 hidden relu, Adam lr 0.001, batch 16, 4 epochs, coupled L2 (keras convention) on the kernels, 2×3-fold, seed 0');
    expect(r.stdout).toContain("Holm p is p adjusted by Holm's method over all 5 tests of this study. constant@matched: λ × 0.75.");
    expect(tableRows(r.stdout, 0.1)).toEqual([
      ['90.0 ± 0.0 %', '0.300 ± 0.000', 'alternate − constant', '+3.0', '+0.7 … +5.3', '0.020', '0.101', '-0.027', '-0.048 … -0.005', '0.025', '0.101'],
      ['', '', 'alternate − constant@matched', '0.0', '0.0 … 0.0', '1.000', '1.000', '0.000', '0.000 … 0.000', '1.000', '1.000'],
      // Equal nonzero differences: no spread to size an interval or a p (pairedTTest gives NaN for both).
      ['', '', 'none − constant', '+2.0', 'n/a', 'n/a', 'n/a', '0.000', '0.000 … 0.000', '1.000', '1.000'],
    ]);
    expect(formatP(5 * pa)).toBe('0.101');
  });

  it('studies another schedule and decoupled L2: the matched λ follows the schedule, the mode reaches every arm', () => {
    const flags = ['--datasets', 'iris', '--lambdas', '0.1', '--hidden', '6,5', '--epochs', '6', '--lr', '0.01', '--folds', '3', '--repeats', '1', '--device', 'cpu'];
    const runs = (['decoupled', 'coupled'] as const).map((penalty) => {
      const json = join(temp, `rotate-${penalty}.json`);
      const r = study(...flags, '--schedule', 'rotate', '--penalty', penalty, '--json', json);
      expect(r.code, r.stderr).toBe(0);
      return { r, json: JSON.parse(readFileSync(json, 'utf8')) as { setup: { schedule: string; penalty: string }; results: Result[] } };
    });
    const [decoupled, coupled] = runs;
    expect(decoupled.r.stdout).toContain('## altreg study of rotate: 6-5 hidden relu, Adam lr 0.01, batch 16, 6 epochs, decoupled L2 (AdamW decay) on the kernels, 1×3-fold, seed 0');
    expect(decoupled.r.stdout).toContain('| 0.1 |  |  | rotate − constant@matched |');
    expect(decoupled.json.setup).toMatchObject({ schedule: 'rotate', penalty: 'decoupled' });
    const [x] = decoupled.json.results;
    // Rotate drops one of three kernel terms every epoch: each is on 2 epochs in 3.
    expect(x.matchedLambda).toBeCloseTo(0.1 * (2 / 3), 15);
    expect(x.arms.map((a) => [a.name, a.schedule])).toEqual([['constant', 'constant'], ['rotate', 'rotate'], ['constant@matched', 'constant'], ['none', 'none']]);
    // Decoupled decay is another penalty: the penalized arms train differently; no penalty is no penalty.
    const [c] = coupled.json.results;
    expect(x.arms[0].logLoss).not.toEqual(c.arms[0].logLoss);
    expect(x.arms[3].logLoss).toEqual(c.arms[3].logLoss);

    // Parity over 3 epochs keeps the first kernel on twice and the others once or twice: the
    // control matches the mean share, and the table says which shares it averaged.
    const parity = study(...flags.map((f) => (f === '6' ? '3' : f)), '--schedule', 'parity');
    expect(parity.code, parity.stderr).toBe(0);
    expect(parity.stdout).toContain("constant@matched: λ × 0.5556 (the mean of the terms' shares 0.6667, 0.3333, 0.6667).");

    // random:P keeps each term on with probability P: the matched λ is P·λ.
    const json = join(temp, 'random.json');
    expect(study(...flags, '--schedule', 'random:0.3', '--json', json).code).toBe(0);
    const [random] = (JSON.parse(readFileSync(json, 'utf8')) as { results: Result[] }).results;
    expect(random.matchedLambda).toBeCloseTo(0.03, 15);
    expect(random.arms[1].name).toBe('random:0.3');
  });

  it('refuses bad flags with one line naming the flag, before any training', () => {
    const refused = (...args: string[]) => {
      const r = study(...args);
      return [r.code, r.stderr.trim()];
    };
    expect(refused('--datasets', 'mnist')).toEqual([2, "study: --datasets: unknown data set 'mnist'; valid: iris, wine, breast_cancer, digits"]);
    expect(refused('--lambdas', '0.01,x')).toEqual([2, "study: --lambdas must be a decimal number ≥ 0, got 'x'"]);
    expect(refused('--lambdas', ',')).toEqual([2, 'study: --lambdas needs at least one value']);
    expect(refused('--epochs', '0')).toEqual([2, "study: --epochs must be an integer ≥ 1, got '0'"]);
    expect(refused('--lr', '0')).toEqual([2, "study: --lr must be a number > 0, got '0'"]);
    // As the CLI's --lr: a normal float32 (1e-50 is 0 there; a GPU may flush the subnormal 1e-40 to 0).
    const LR = 'valid: about 1.18e-38 to 3.4e38 (a normal float32: the GPU computes in float32 and may flush smaller numbers to 0)';
    expect(refused('--lr', '1e-50')).toEqual([2, `study: --lr must be a number > 0, got '1e-50', which is 0 in float32; ${LR}`]);
    expect(refused('--lr', '1e-40')).toEqual([2, `study: --lr must be a number > 0, got '1e-40', which float32 holds only as a subnormal number, which GPUs may flush to 0; ${LR}`]);
    expect(refused('--lr', '1e39')).toEqual([2, `study: --lr must be a number > 0, got '1e39', which is Infinity in float32; ${LR}`]);
    expect(refused('--device', 'tpu')).toEqual([2, "study: --device must be auto, gpu or cpu, got 'tpu'"]);
    expect(refused('--schedule', 'constant')).toEqual([2, "study: --schedule must be a schedule to hold against constant and none, got 'constant'"]);
    expect(refused('--schedule', 'sometimes')[1]).toMatch(/^study: --schedule: unknown schedule 'sometimes'; valid: /);
    expect(refused('--penalty', 'both')).toEqual([2, "study: --penalty must be coupled or decoupled, got 'both'"]);
    expect(refused('--lambdas', '-1')).toEqual([2, "study: --lambdas takes no negative values, got '-1' (see --help)"]);
    expect(refused('--lambdas', '0.01,1e-2')).toEqual([2, 'study: --lambdas lists 0.01 twice; list each λ once']);
    expect(refused('--folds', '1')).toEqual([2, "study: --folds must be an integer ≥ 2, got '1'"]);
    expect(refused('--json', join(temp, 'missing', 'study.json'))).toEqual([2, `study: --json: the folder ${join(temp, 'missing')} does not exist`]);
    expect(refused('--json', temp)).toEqual([2, `study: --json: ${temp} is a folder; give a file name`]);
    // Schedules that never switch a term are none or constant under another name.
    expect(refused('--schedule', 'random:0')).toEqual([2, 'study: --schedule random:0 keeps every term off for all 300 epochs: it trains as none; choose a schedule that switches terms']);
    expect(refused('--epochs', '1')).toEqual([2, 'study: --schedule alternate keeps every term on in the only epoch: it trains as constant; choose a schedule that switches terms']);
    expect(refused('--schedule', 'early:5', '--epochs', '5')).toEqual([2, 'study: --schedule early:5 keeps every term on for all 5 epochs: it trains as constant; choose a schedule that switches terms']);
    // Node's own wording for an unknown option, then the pointer to --help.
    expect(refused('--epoch', '3')).toEqual([2, expect.stringMatching(/^study: Unknown option '--epoch'.* \(see --help\)$/)]);
    // Every data set's folds are checked before the first one trains (digits would take minutes).
    expect(refused('--datasets', 'digits,iris', '--folds', '60', '--epochs', '2', '--device', 'cpu')[1]).toBe(
      'study: --folds: iris: class "setosa" (id 0) has 50 rows, fewer than the 60 folds asked for; every class needs at least 60 rows (use at most 50 folds for this dataset)',
    );
    for (const l of ['0', '1e-400', '1e39']) expect(refused('--lambdas', `0.01,${l}`), l).toEqual([2, `study: --lambdas must be numbers above 0 up to 1.7e38 (2λ must fit in a float32), got '${l}'`]);
    // --from-json trains nothing and takes its settings from the file.
    const missing = join(temp, 'missing.json');
    expect(refused('--from-json', missing)).toEqual([2, `study: --from-json: no file ${missing}`]);
    expect(refused('--from-json', missing, '--epochs', '3')).toEqual([2, "study: --from-json takes the study's settings from its file; drop --epochs"]);
    const other = join(temp, 'other.json');
    writeFileSync(other, JSON.stringify({ setup: { schedule: 'alternate' }, results: [] }));
    expect(refused('--from-json', other)).toEqual([2, `study: --from-json: ${other}: no setup or no results; expected the JSON that \`npm run study -- --json\` writes`]);
    const help = study('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: npm run study -- \[options\]/);
  });

  // These were printed as tables (a fold count of 1.5, an accuracy of 1.5, a setting twice, which
  // also changed every Holm p), failed with a library error's stack or a TypeError's text, or (epochs
  // 1e9) computed the schedule's shares for hours.
  it('--from-json refuses a study it cannot reprint as written, naming the field and what is valid', () => {
    const json = join(temp, 'edited.json');
    const cases: [(s: ReturnType<typeof byHandStudy>['study']) => void, string][] = [
      [(s) => (s.setup.epochs = 1e9), 'setup.epochs must be an integer in [1, 1000000], got 1000000000'],
      [(s) => (s.setup.epochs = 1.5), 'setup.epochs must be an integer in [1, 1000000], got 1.5'],
      [(s) => (s.setup.folds = 1.5), 'setup.folds must be an integer ≥ 2, got 1.5'],
      [(s) => (s.setup.seed = -1), 'setup.seed must be an integer ≥ 0, got -1'],
      [(s) => (s.setup.lr = 0), `setup.lr must be a number > 0, got 0; valid: about 1.18e-38 to 3.4e38 (a normal float32: the GPU computes in float32 and may flush smaller numbers to 0)`],
      [(s) => (s.setup.hidden = [100000]), 'setup.hidden must list 1 to 30 widths, each an integer in [1, 65536], got [100000]'],
      [(s) => ((s.setup as Record<string, unknown>).schedule = 5), "setup.schedule must be a schedule's name, got 5"],
      [(s) => (s.setup.lambdas = [0]), 'setup.lambdas must list numbers above 0 up to 1.7e38, got [0]'],
      [(s) => (s.results[0].arms[1].accuracy[2] = 1.5), "results[0]: alternate's accuracy[2] is 1.5; an accuracy is a number in [0, 1]"],
      [(s) => ((s.results[0].arms[0].logLoss as unknown[])[0] = '0.3'), 'results[0]: constant\'s logLoss[0] is "0.3"; a log-loss is a number ≥ 0'],
      [(s) => (s.results[0].arms[3].logLoss = s.results[0].arms[3].logLoss.slice(1)), "results[0]: none's logLoss is not 6 per-fold numbers (2×3 folds), got 5"],
      [(s) => ((s.results[0].lambda = 0), (s.results[0].matchedLambda = 0)), 'results[0].lambda must be a number above 0 up to 1.7e38, got 0'],
      // Every data set at every λ of the setup, once.
      [(s) => s.results.push(s.results[0]), 'results[1] repeats iris at λ 0.1 (results[0])'],
      [(s) => s.setup.lambdas.push(0.01), 'results lack iris at λ 0.01, which setup.datasets and setup.lambdas list'],
      [(s) => (s.results[0].dataset = 'wine'), 'results[0] is wine at λ 0.1, which setup.datasets and setup.lambdas do not list'],
    ];
    for (const [change, message] of cases) {
      const { study: edited } = byHandStudy();
      change(edited);
      writeFileSync(json, JSON.stringify(edited));
      const r = study('--from-json', json);
      expect([r.code, r.stderr.trim()], message).toEqual([2, `study: --from-json: ${json}: ${message}; expected the JSON that \`npm run study -- --json\` writes`]);
      expect(r.stdout).toBe('');
    }
  });
});
