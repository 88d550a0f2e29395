// The built CLI, spawned as users run it: exit codes, messages, reports, JSON, checkpoints.
import { spawn, spawnSync } from 'node:child_process';
import { constants } from 'node:buffer';
import { chmodSync, closeSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingControls, parseArms } from '../experiment/arms.js';
import { mlpLayout } from '../model/mlp.js';
import { checkCsvSize, DEMO_ARGS, READ_NOTE_BYTES, SMALL_STEP_MULTIPLY_ADDS, stepMultiplyAdds } from './commands.js';
import { cliMessage } from './errors.js';
import { GpuError } from '../runtime/gpu.js';

const cli = join(import.meta.dirname, '../../dist/cli.js');
const temp = mkdtempSync(join(tmpdir(), 'altreg-cli-'));
// A folder every user may write in, for the runs as an unprivileged user.
const open = mkdtempSync(join(tmpdir(), 'altreg-cli-open-'));
chmodSync(open, 0o777);
afterAll(() => {
  rmSync(temp, { recursive: true, force: true });
  rmSync(open, { recursive: true, force: true });
});

beforeAll(() => {
  // `npm test` builds first; a lone `vitest run` builds here when dist is missing.
  if (!existsSync(cli)) spawnSync('npm', ['run', 'build'], { cwd: join(import.meta.dirname, '../..'), stdio: 'ignore' });
}, 120_000);

/**
 * An environment in which Dawn finds no adapter: no EGL vendor library (OpenGL ES) and no Vulkan
 * driver (Dawn tries Vulkan first where libvulkan is installed).
 */
const NO_ADAPTER = { __EGL_VENDOR_LIBRARY_FILENAMES: '/nonexistent.json', VK_ICD_FILENAMES: '/nonexistent.json', VK_DRIVER_FILES: '/nonexistent.json' };

function altreg(...args: string[]) {
  return run({}, ...args);
}

/**
 * The CLI with extra environment variables, optionally stdout sent to a file descriptor, in
 * folder `cwd`, or as a user whom file permissions bind (`unprivileged`: root passes every
 * permission check, so as root it runs as nobody).
 */
function run(options: { env?: Record<string, string>; stdout?: number; cwd?: string; unprivileged?: boolean }, ...args: string[]) {
  const nobody = options.unprivileged && process.getuid?.() === 0 ? ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups'] : [];
  const [command, ...rest] = [...nobody, process.execPath, cli, ...args];
  const r = spawnSync(command, rest, {
    encoding: 'utf8',
    env: { ...process.env, EGL_PLATFORM: 'surfaceless', ALTREG_CACHE_DIR: join(temp, 'cache'), ...options.env },
    timeout: 120_000,
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    ...(options.stdout !== undefined ? { stdio: ['ignore', options.stdout, 'pipe'] } : {}),
  });
  // Dawn's own notices on stderr are not ours.
  const stderr = r.stderr.split('\n').filter((l) => !/^Warning: |artificially reduced|^\s+at operator|^$/.test(l)).join('\n');
  return { code: r.status, stdout: r.stdout ?? '', stderr };
}

describe('altreg CLI', () => {
  it('train: a stratified holdout on Iris prints a scikit-learn style report', () => {
    const r = altreg('train', '--data', 'iris', '--epochs', '60', '--lr', '0.02', '--schedule', 'alternate', '--seed', '3');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Classification report \(alternate L2, λ 0.01, holdout test set; iris\)/);
    expect(r.stdout).toMatch(/\n {6}setosa {7}\d\.\d\d {6}\d\.\d\d {6}\d\.\d\d {8}10\n/);
    expect(r.stdout).toMatch(/\n {4}accuracy {27}\d\.\d\d {8}30\n/);
    expect(r.stderr).toMatch(/altreg: training 1 model \(1 arm × 1 fold\) on iris \(150 rows, 4 features, 3 classes\), llvmpipe/);
    const accuracy = Number(/accuracy\s+(\d\.\d\d)/.exec(r.stdout)![1]);
    expect(accuracy).toBeGreaterThanOrEqual(0.85);
    expect(r.stdout).not.toContain('ill-defined');
  });

  it('a class missing from the test rows: the report says its zeros are ill-defined and counted in the macro average', () => {
    // Class z has one row, which the holdout split puts in training: its test support is 0.
    const csv = join(temp, 'lonely.csv');
    const rows = Array.from({ length: 30 }, (_, i) => [`${i % 7},${i % 5},x`, `${(i % 3) + 5},${(i % 4) + 5},y`]).flat();
    writeFileSync(csv, `a,b,label\n${rows.join('\n')}\n9,9,z\n`);
    const r = altreg('train', '--data', csv, '--epochs', '30', '--lr', '0.01', '--device', 'cpu', '--quiet');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\n {11}z {7}0\.00 {6}0\.00 {6}0\.00 {9}0\n/);
    expect(r.stdout).toContain(
      "\nIll-defined scores were set to 0.0 (scikit-learn's zero_division default) and count as 0 in the macro average:\n" +
        '  Precision is ill-defined and being set to 0.0 in classes with no predicted samples: "z" (2)\n' +
        '  Recall is ill-defined and being set to 0.0 in classes with no true samples: "z" (2)\n',
    );
  });

  it('compare: every schedule on the same folds, side by side, with JSON history', () => {
    const json = join(temp, 'compare.json');
    const r = altreg('compare', '--data', 'wine', '--schedules', 'none,constant,rotate', '--folds', '3', '--epochs', '15', '--lr', '0.01', '--json', json, '--quiet');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/schedule\s+accuracy\s+macro-F1\s+log-loss\s+Δ accuracy vs none\s+Δ log-loss/);
    expect(r.stdout).toMatch(/\nrotate\s+\d\.\d{3} ± \d\.\d{3}/);
    const result = JSON.parse(readFileSync(json, 'utf8'));
    expect(result.arms.map((a: { name: string }) => a.name)).toEqual(['none', 'constant', 'rotate']);
    for (const arm of result.arms) {
      expect(arm.folds).toHaveLength(3);
      for (const f of arm.folds) {
        expect(f.history).toHaveLength(15);
        expect(f.confusion.reduce((a: number, b: number) => a + b, 0)).toBe(f.rows.test);
      }
    }
    // Same folds for every arm: identical test sizes fold by fold.
    expect(result.arms[1].folds.map((f: { rows: unknown }) => f.rows)).toEqual(result.arms[0].folds.map((f: { rows: unknown }) => f.rows));
    expect(result.arms[2].folds[0].history[1].mask).toEqual([true, false]);
    expect(readdirSync(temp).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('the demo lists the matched control of its schedules, so it prints no note of a missing one', () => {
    const flag = (name: string) => DEMO_ARGS[DEMO_ARGS.indexOf(name) + 1];
    const arms = parseArms(flag('--schedules'), '--schedules', Number(flag('--l2')));
    const layout = mlpLayout(4, 3, { hidden: [Number(flag('--hidden'))], activation: 'relu' });
    expect(arms.map((a) => a.name)).toEqual(['none', 'constant', 'alternate', 'constant@0.0075']);
    expect(missingControls(arms, Number(flag('--l2')), layout, 'kernels', Number(flag('--epochs')))).toEqual([]);
    expect(missingControls(arms.slice(0, 3), Number(flag('--l2')), layout, 'kernels', Number(flag('--epochs'))).map((m) => m.control)).toEqual([arms[3]]);
  });

  it('on llvmpipe, small models train with compute on the CLI thread and larger ones on its pool', () => {
    // 40 models × 16 rows × (4·10 + 10·3) = 44,800 multiply-adds per step (the demo's: 4 arms ×
    // 10 folds), and 15 × 16 × (64·32 + 32·10) = 568,320 (digits with 32 hidden units, 5 folds).
    expect(DEMO_ARGS[DEMO_ARGS.indexOf('--schedules') + 1].split(',').length * Number(DEMO_ARGS[DEMO_ARGS.indexOf('--folds') + 1])).toBe(40);
    expect(stepMultiplyAdds(40, 16, [4, 10, 3])).toBe(44_800);
    expect(stepMultiplyAdds(15, 16, [64, 32, 10])).toBe(568_320);
    expect(stepMultiplyAdds(40, 16, [4, 10, 3])).toBeLessThanOrEqual(SMALL_STEP_MULTIPLY_ADDS);
    expect(stepMultiplyAdds(15, 16, [64, 32, 10])).toBeGreaterThan(SMALL_STEP_MULTIPLY_ADDS);
    const small = altreg('compare', '--data', 'iris', '--folds', '2', '--epochs', '2');
    const large = altreg('compare', '--data', 'digits', '--hidden', '32', '--folds', '5', '--epochs', '1');
    for (const r of [small, large]) expect(r.code, r.stderr).toBe(0);
    const header = (r: { stderr: string }) => r.stderr.split('\n').find((l) => l.startsWith('altreg: training')) ?? '';
    // Only Mesa's llvmpipe has the knob (other adapters name no thread), and an LP_NUM_THREADS
    // set by the user wins.
    const llvmpipe = /llvmpipe/.test(header(small));
    const user = process.env.LP_NUM_THREADS;
    expect(header(small).endsWith(', compute on this thread (LP_NUM_THREADS=0)')).toBe(llvmpipe && (user ?? '0') === '0');
    expect(header(large).endsWith(', compute on this thread (LP_NUM_THREADS=0)')).toBe(llvmpipe && user === '0');
    expect(header(large)).toContain('15 models (3 arms × 5 folds) on digits');
    // A batch larger than the data trains the training rows: small still.
    const capped = altreg('train', '--data', 'iris', '--batch-size', '100000', '--epochs', '1');
    expect(header(capped).endsWith(', compute on this thread (LP_NUM_THREADS=0)')).toBe(llvmpipe && (user ?? '0') === '0');
    expect(large.stdout).toContain('Schedules compared on digits (32 hidden, relu, Adam lr 0.001, λ 0.01, coupled/keras, 1 epoch, batch 16)');
  });

  it('--version prints the version of package.json', () => {
    const { version } = JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8'));
    const r = altreg('--version');
    expect([r.code, r.stdout.trim()]).toEqual([0, version]);
  });

  it('an unknown flag: exit 2 and one line naming it', () => {
    const r = altreg('train', '--data', 'iris', '--learning-rate', '0.1');
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe("altreg: unknown option '--learning-rate' (see --help)");
    expect(r.stdout).toBe('');
  });

  it('a bad CSV: exit 2 and the line and column of the bad cell', () => {
    const file = join(temp, 'bad.csv');
    writeFileSync(file, 'length,width,kind\n1.0,2.0,a\n1.5,2.5,b\n2.0,wide,a\n2.5,3.5,b\n');
    const r = altreg('train', '--data', file, '--epochs', '2');
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('altreg: bad.csv line 4, column 2 ("width"): "wide" is not a number');
  });

  it('bad values: exit 2 with what is valid', () => {
    expect(altreg('train', '--data', 'iris', '--lr', '0').stderr.trim()).toBe("altreg: --lr must be a number > 0, got '0' (see --help)");
    expect(altreg('train', '--data', 'iris', '--schedule', 'random:2').stderr.trim()).toBe('altreg: --schedule: random:P needs 0 ≤ P ≤ 1, got 2');
    expect(altreg('train', '--data', 'mnist').stderr.trim()).toBe("altreg: --data must be one of iris, wine, breast_cancer, digits or a .csv file, got 'mnist'");
    expect(altreg('train', '--data', 'irs').stderr.trim()).toBe("altreg: --data must be one of iris, wine, breast_cancer, digits or a .csv file, got 'irs' (did you mean iris?)");
    expect(altreg('train', '--data', 'iris', '--folds', '60').stderr.trim()).toMatch(/^altreg: .*class .* has 50 rows.* 60 folds|^altreg: .*60/);
    expect(altreg('train', '--data', 'iris', '--folds', '60').code).toBe(2);
    expect(altreg('train', '--data', join(temp, 'missing.csv')).stderr.trim()).toBe(`altreg: cannot read ${join(temp, 'missing.csv')} (ENOENT)`);
  });

  it('compare: an arm with its own λ (schedule@λ) trains as that schedule with that --l2; bad arms exit 2', () => {
    const flags = ['--data', 'iris', '--folds', '3', '--epochs', '8', '--lr', '0.01', '--device', 'cpu', '--quiet'];
    const [ownJson, flagJson] = [join(temp, 'own-l2.json'), join(temp, 'flag-l2.json')];
    const own = altreg('compare', ...flags, '--schedules', 'none,constant,constant@0.5', '--l2', '0.01', '--json', ownJson);
    expect(own.code, own.stderr).toBe(0);
    expect(own.stdout).toContain("Schedules compared on iris (10 hidden, relu, Adam lr 0.01, λ 0.01 or the arm's @λ, coupled/keras, 8 epochs, batch 16)");
    expect(own.stdout).toMatch(/\nconstant@0\.5\s+\d\.\d{3} ± \d\.\d{3}/);
    const flag = altreg('compare', ...flags, '--schedules', 'none,constant', '--l2', '0.5', '--json', flagJson);
    expect(flag.code, flag.stderr).toBe(0);
    type Json = { arms: { name: string; penalty: { lambda: number }; folds: { logLoss: number; history: unknown[] }[] }[] };
    const [a, b] = [ownJson, flagJson].map((f) => JSON.parse(readFileSync(f, 'utf8')) as Json);
    // none trains with λ 0, whatever --l2 says (the JSON said 0.01).
    expect(a.arms.map((x) => [x.name, x.penalty.lambda])).toEqual([['none', 0], ['constant', 0.01], ['constant@0.5', 0.5]]);
    // Same folds and seeds: the arm with its own λ is, epoch by epoch, plain L2 at --l2 0.5.
    const folds = (arm: Json['arms'][number]) => arm.folds.map((f) => [f.logLoss, f.history]);
    expect(folds(a.arms[2])).toEqual(folds(b.arms[1]));
    expect(folds(a.arms[0])).toEqual(folds(b.arms[0]));
    expect(a.arms[2].folds[0].logLoss).not.toBe(a.arms[1].folds[0].logLoss);

    const refused = (...args: string[]) => {
      const r = altreg('compare', '--data', 'iris', '--folds', '3', '--epochs', '2', ...args);
      return [r.code, r.stderr.trim()];
    };
    expect(refused('--schedules', 'none,constant@x')).toEqual([2, "altreg: --schedules: the λ after @ in 'constant@x' must be a number from 0 to 1.7e38 (2λ must fit in a float32), got 'x'"]);
    expect(refused('--schedules', 'constant,constant@0.01')).toEqual([2, 'altreg: --schedules: constant and constant@0.01 are the same arm (λ 0.01); list each arm once']);
    expect(refused('--schedules', 'none,constant@0.5', '--report', 'constant')).toEqual([2, "altreg: --report must name one of the compared arms (none, constant@0.5), got 'constant'"]);
    expect(refused('--schedules', 'none,constant', '--report', 'sometimes')).toEqual([2, "altreg: --report must name one of the compared arms (none, constant), got 'sometimes'"]);
    // A schedule without its matched control gets a note naming it; a listed control silences it.
    const controls = (schedules: string) => altreg('compare', '--data', 'iris', '--folds', '2', '--epochs', '4', '--device', 'cpu', '--quiet', '--schedules', schedules).stdout;
    expect(controls('none,constant,alternate,rotate')).toContain(
      '\nMissing controls: constant@0.0075 is plain L2 as strong on average as alternate and constant@0.005 as rotate, over 4 epochs. Without them, a gain over plain L2 at the same λ may only mean that λ was too strong. Add them to --schedules.\n',
    );
    expect(controls('constant,alternate,rotate,constant@0.005')).toContain('\nMissing control: constant@0.0075 is plain L2 as strong on average as alternate, over 4 epochs. Without it,');
    expect(controls('none,constant,alternate,constant@0.0075')).not.toContain('Missing control');
    // An arm at λ 0 is no penalty at all: it has no control to miss.
    expect(controls('none,alternate@0')).not.toContain('Missing control');
    expect(refused('--schedules', 'none,constant@-0')).toEqual([2, "altreg: --schedules: the λ after @ in 'constant@-0' must be a number from 0 to 1.7e38 (2λ must fit in a float32), got '-0'"]);
    expect(refused('--schedules', 'none,constant@1e-400')).toEqual([2, "altreg: --schedules: the λ after @ in 'constant@1e-400' is too small to tell from 0; write 0 for no penalty"]);
    // train has one arm, and its λ is --l2.
    expect(altreg('train', '--data', 'iris', '--schedule', 'alternate@0.5').stderr.trim()).toBe('altreg: --schedule: schedule@λ names an arm of compare; train takes its λ from --l2 (e.g. --schedule alternate --l2 0.5)');
    expect(refused('--schedules', 'none,none@0.5')).toEqual([2, 'altreg: --schedules: none has no λ (its terms are always off); write none without @']);

    // --report names an arm as --schedules does, however λ is spelled; with every penalized arm
    // carrying its own λ the heading says so instead of naming --l2's.
    const report = altreg('compare', '--data', 'iris', '--folds', '2', '--epochs', '2', '--device', 'cpu', '--quiet', '--schedules', 'none,constant@0.0075,alternate@0.01', '--report', 'constant @ 7.5e-3');
    expect(report.code, report.stderr).toBe(0);
    expect(report.stdout).toContain('Schedules compared on iris (10 hidden, relu, Adam lr 0.001, λ per arm, coupled/keras, 2 epochs, batch 16)');
    expect(report.stdout).toContain('Classification report of the constant@0.0075 arm (mean ± std over folds)');
    const byDefault = altreg('compare', '--data', 'iris', '--folds', '2', '--epochs', '2', '--device', 'cpu', '--quiet', '--schedules', 'none,constant', '--report', 'constant@0.01');
    expect(byDefault.stdout).toContain('Classification report of the constant arm');
    expect(refused('--l2', '1e39')).toEqual([2, "altreg: --l2 must be a number from 0 to 1.7e38 (2λ must fit in a float32), got '1e39' (see --help)"]);
  });

  it('--save then --resume continues every fold; a diverging run exits 1 and overwrites no checkpoint', () => {
    const dir = join(temp, 'ckpt');
    const first = altreg('train', '--data', 'iris', '--folds', '3', '--epochs', '4', '--save', dir, '--quiet', '--device', 'cpu');
    expect(first.code, first.stderr).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['altreg-run.json', 'fold-0', 'fold-1', 'fold-2']);
    const json = join(temp, 'resumed.json');
    const resumed = altreg('train', '--data', 'iris', '--folds', '3', '--epochs', '3', '--resume', dir, '--json', json, '--quiet', '--device', 'cpu');
    expect(resumed.code, resumed.stderr).toBe(0);
    const history = JSON.parse(readFileSync(json, 'utf8')).arms[0].folds[0].history;
    expect(history.map((h: { epoch: number }) => h.epoch)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    // The straight 7-epoch run gives the same final history on the CPU path.
    const straightJson = join(temp, 'straight.json');
    altreg('train', '--data', 'iris', '--folds', '3', '--epochs', '7', '--json', straightJson, '--quiet', '--device', 'cpu');
    const straight = JSON.parse(readFileSync(straightJson, 'utf8')).arms[0].folds[0].history;
    expect(history.map((h: { loss: number }) => h.loss)).toEqual(straight.map((h: { loss: number }) => h.loss));

    // Another experiment may not save into this folder; one that diverges writes nothing at all.
    const other = altreg('train', '--data', 'iris', '--folds', '3', '--epochs', '3', '--lr', '0.01', '--save', dir, '--quiet');
    expect([other.code, other.stderr.trim()]).toEqual([2, `altreg: --save: ${dir} holds another experiment (--lr 0.001 there, 0.01 here); choose a new or empty folder`]);
    const fresh = join(temp, 'diverged');
    const diverging = altreg('train', '--data', 'iris', '--folds', '3', '--epochs', '3', '--lr', '1e30', '--no-standardize', '--save', fresh, '--json', join(temp, 'diverged.json'), '--quiet');
    expect(diverging.code).toBe(1);
    expect(diverging.stderr.trim()).toMatch(/^altreg: training diverged at epoch \d+ \(model \d, constant fold \d\): the training loss is (NaN|Infinity); lower --lr or --l2$/);
    expect([existsSync(fresh), existsSync(join(temp, 'diverged.json'))]).toEqual([false, false]);
  });

  it('a divergence found after the last step, or in features that overflow, exits 1 with the same message on both devices', () => {
    // One Adam step of about 1e30: every weight's square passes float32. It used to end as a
    // usage error (exit 2) from logLoss on NaN probabilities.
    const csv = join(temp, 'huge-features.csv');
    writeFileSync(csv, 'a,b,label\n' + Array.from({ length: 30 }, (_, i) => `${i % 2 ? '' : '-'}3e38,${(i % 7) / 7},${'xyz'[i % 3]}`).join('\n') + '\n');
    for (const device of ['gpu', 'cpu']) {
      const weights = altreg('train', '--data', 'iris', '--epochs', '1', '--batch-size', '1000', '--lr', '1e30', '--l2', '0', '--validation', '0', '--quiet', '--device', device);
      expect([weights.code, weights.stderr.trim()], device).toEqual([
        1,
        // --l2 0: no penalty, so the advice names --lr alone.
        'altreg: training diverged at epoch 0 (model 0, constant fold 0): the weights of dense_0/kernel are not finite after the epoch (Σw² is Infinity); lower --lr',
      ]);
      // Features of ±3e38 overflow the first forward pass: standardizing is the cure, not the
      // rate, said in the flags' terms (the library says "standardize the features").
      const features = altreg('train', '--data', csv, '--no-standardize', '--epochs', '2', '--quiet', '--device', device);
      expect(features.code, features.stderr).toBe(1);
      expect(features.stderr.trim(), device).toMatch(
        /^altreg: training diverged at epoch 0 \(model 0, constant fold 0\): the training loss is (Infinity|NaN); the first batch's loss is already (Infinity|NaN) before any update: its features reach 3e\+38 \(not standardized\) and overflow float32 in the forward pass; drop --no-standardize \(or scale the features down\)$/,
      );
    }
  });

  it('--lr must be a normal float32 > 0: 1e-50, 1e-40 (subnormal) and 1e39 exit 2 before any training, the range in the message', () => {
    const range = 'valid: about 1.18e-38 to 3.4e38 (a normal float32: the GPU computes in float32 and may flush smaller numbers to 0)';
    const refused = (...args: string[]) => {
      const r = altreg(...args);
      return { code: r.code, stderr: r.stderr.trim() };
    };
    expect(refused('train', '--data', 'iris', '--lr', '1e-50')).toEqual({ code: 2, stderr: `altreg: --lr must be a number > 0, got '1e-50', which is 0 in float32; ${range} (see --help)` });
    // 1e-40 is a subnormal float32: a GPU may flush it to 0 and train nothing where the CPU steps.
    expect(refused('train', '--data', 'iris', '--lr', '1e-40')).toEqual({
      code: 2,
      stderr: `altreg: --lr must be a number > 0, got '1e-40', which float32 holds only as a subnormal number, which GPUs may flush to 0; ${range} (see --help)`,
    });
    expect(refused('compare', '--data', 'iris', '--lr', '1e39')).toEqual({ code: 2, stderr: `altreg: --lr must be a number > 0, got '1e39', which is Infinity in float32; ${range} (see --help)` });
    // Not a number at all: the short message, as for every number flag.
    expect(refused('train', '--data', 'iris', '--lr', '0x1')).toEqual({ code: 2, stderr: "altreg: --lr must be a number > 0, got '0x1' (see --help)" });
    // The smallest normal float32, rounded up, trains.
    expect(refused('train', '--data', 'iris', '--lr', '1.18e-38', '--epochs', '1', '--device', 'cpu', '--quiet')).toEqual({ code: 0, stderr: '' });
  });

  it("a divergence's advice is said in the flags' terms: lower --lr (or --l2 where there is a penalty), drop --no-standardize", () => {
    // Test rows whose logits overflow after the last update, the weights being finite (three layers of
    // weights about 1e17): the CLI evaluates its test rows inside the run, so it reports the test rows.
    const test = altreg('train', '--data', 'iris', '--hidden', '10,10', '--epochs', '1', '--batch-size', '1000', '--lr', '1e17', '--l2', '0', '--validation', '0', '--quiet', '--device', 'cpu');
    expect(test.code, test.stderr).toBe(1);
    expect(test.stderr.trim()).toMatch(
      /^altreg: training diverged at epoch 0 \(model 0, constant fold 0\): the logits of test row \d+ are not finite \((NaN|-?Infinity)\) after the last epoch; its forward pass overflows float32, with features up to \d(\.\d)? as the first layer sees them and weights up to 1e\+17; lower --lr$/,
    );
    expect(test.stderr).not.toContain('learning rate');
    // With a penalty, λ may be the cause too; the none arm has none, whatever --l2 says.
    const penalized = altreg('train', '--data', 'iris', '--epochs', '1', '--batch-size', '1000', '--lr', '1e30', '--l2', '0.01', '--validation', '0', '--quiet', '--device', 'cpu');
    expect([penalized.code, penalized.stderr.trim()]).toEqual([1, expect.stringMatching(/^altreg: training diverged at epoch 0 \(model 0, constant fold 0\): .*; lower --lr or --l2$/)]);
    // A shape no storage binding of the device takes (a GpuError with the library's remedy; which
    // shapes depends on the adapter, so the mapping itself is checked): the flag instead.
    const binding = new GpuError("one model's confusion matrix of 5900 classes needs 139240000 bytes, more than llvmpipe's storage binding of 134217728 bytes; train with device: 'cpu' (the CPU reference trainer has no such limit)");
    expect(cliMessage(binding)).toBe("one model's confusion matrix of 5900 classes needs 139240000 bytes, more than llvmpipe's storage binding of 134217728 bytes; train with --device cpu (the CPU reference trainer has no such limit)");
    expect(cliMessage(new GpuError('no WebGPU adapter: tried vulkan'))).toBe('no WebGPU adapter: tried vulkan');
    const none = altreg('train', '--data', 'iris', '--schedule', 'none', '--epochs', '1', '--batch-size', '1000', '--lr', '1e30', '--validation', '0', '--quiet', '--device', 'cpu');
    expect([none.code, none.stderr.trim()]).toEqual([1, expect.stringMatching(/^altreg: training diverged at epoch 0 \(model 0, none fold 0\): .*; lower --lr$/)]);
  });

  it('output paths are checked before any training; a link is written through, a device written to', () => {
    const file = join(temp, 'a-file');
    writeFileSync(file, 'keep\n');
    const fast = ['--data', 'iris', '--epochs', '1', '--device', 'cpu', '--quiet'];
    const cases: [string[], string][] = [
      [['--json', ''], 'altreg: --json needs a file name'],
      [['--json', temp], `altreg: --json: ${temp} is a folder; give a file name`],
      [['--json', join(file, 'x.json')], `altreg: --json: ${file} is a file, not a folder`],
      [['--save', file], `altreg: --save: ${file} exists and is not a folder`],
      [['--save', ''], 'altreg: --save needs a folder name'],
      [['--repeats', '3'], 'altreg: --repeats repeats k-fold cross-validation with new shuffles: it needs --folds'],
      [['--hidden', '70000'], "altreg: --hidden must be 1 to 30 comma-separated layer widths from 1 to 65536 (e.g. 10 or 64,32), got '70000' (see --help)"],
      [['--epochs', '2000000'], "altreg: --epochs must be an integer from 1 to 1000000, got '2000000' (see --help)"],
      [['--json', join(temp, 'newdir') + '/'], `altreg: --json: ${join(temp, 'newdir')}/ ends with a slash; give a file name`],
      [['--save', join(temp, 'ck-in'), '--json', join(temp, 'ck-in', 'r.json')], `altreg: --json: ${join(temp, 'ck-in', 'r.json')} is, or is inside or above, the --save folder ${join(temp, 'ck-in')}, which holds only checkpoints; give a file outside it`],
      [['--save', join(temp, 'ck-same'), '--json', join(temp, 'ck-same')], `altreg: --json: ${join(temp, 'ck-same')} is, or is inside or above, the --save folder ${join(temp, 'ck-same')}, which holds only checkpoints; give a file outside it`],
    ];
    for (const [flags, message] of cases) {
      const r = altreg('train', ...fast, ...flags);
      expect([r.code, r.stderr.trim(), r.stdout], flags.join(' ')).toEqual([2, message, '']);
    }
    expect(readFileSync(file, 'utf8')).toBe('keep\n');

    // Through a link, the file it points to is replaced and the link stays a link.
    const target = join(temp, 'target.json');
    const link = join(temp, 'link.json');
    writeFileSync(target, 'old\n');
    symlinkSync(target, link);
    expect(altreg('train', ...fast, '--json', link).code).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(JSON.parse(readFileSync(target, 'utf8')).tool).toBe('altreg');
    // The input CSV is never the output.
    const csv = join(temp, 'in.csv');
    writeFileSync(csv, 'a,b,label\n' + Array.from({ length: 20 }, (_, i) => `${i},${i % 3},${i % 2 ? 'x' : 'y'}`).join('\n') + '\n');
    const self = altreg('train', '--data', csv, '--epochs', '1', '--device', 'cpu', '--quiet', '--json', csv);
    expect([self.code, self.stderr.trim()]).toEqual([2, `altreg: --json: ${csv} is the --data file; give another name`]);
    // A missing folder on the way is made, at the end.
    const nested = join(temp, 'new', 'deeper', 'r.json');
    expect(altreg('train', ...fast, '--json', nested).code).toBe(0);
    expect(JSON.parse(readFileSync(nested, 'utf8')).arms[0].folds).toHaveLength(1);

    // /dev/stdout is a descriptor of this process: written to, never renamed over (here a pipe);
    // stdout then holds the JSON alone, and the report goes to stderr.
    const piped = altreg('train', ...fast, '--json', '/dev/stdout');
    expect(piped.code, piped.stderr).toBe(0);
    expect(JSON.parse(piped.stdout).arms[0].folds).toHaveLength(1);
    expect(piped.stderr).toMatch(/^Classification report \(constant L2/m);
    // A report that cannot be written is a failure, not a silent success.
    const full = openSync('/dev/full', 'w');
    const lost = run({ stdout: full }, 'train', ...fast);
    closeSync(full);
    expect([lost.code, lost.stderr.trim()]).toEqual([1, 'altreg: cannot write to stdout (ENOSPC)']);

    // tune makes its cache folder before timing anything.
    const tune = run({ env: { ALTREG_CACHE_DIR: join(file, 'cache') } }, 'tune', '--quiet');
    expect(tune.code).toBe(2);
    expect(tune.stderr.trim()).toBe(`altreg: cannot create the tuning cache folder ${join(file, 'cache')} (ENOTDIR); set ALTREG_CACHE_DIR to a writable folder, or pass --no-save`);
  });

  it('--save takes one experiment per folder, and --resume needs its command and flags', () => {
    const dir = join(temp, 'cmp');
    const flags = ['--data', 'iris', '--folds', '2', '--epochs', '1', '--device', 'cpu', '--quiet'];
    expect(altreg('compare', ...flags, '--save', dir).code).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['alternate', 'altreg-run.json', 'constant', 'none']);
    const cases: [string[], string][] = [
      [['train', ...flags, '--save', dir], `altreg: --save: ${dir} already holds alternate, constant, none, which this run would not write; choose a new or empty folder (or the --resume folder of the same experiment)`],
      [['train', ...flags, '--resume', dir], `altreg: --resume: ${dir} was saved by \`altreg compare\`; resume it with compare and the same flags`],
      [['compare', ...flags, '--resume', dir, '--seed', '5', '--no-standardize'], `altreg: --resume: ${dir} was trained with other flags (--standardize on there, off (--no-standardize) here; --seed 0 there, 5 here); resume with the flags it was trained with (--epochs, --device and the output flags may differ)`],
      [['compare', ...flags, '--resume', join(temp, 'nothing')], `altreg: --resume: ${join(temp, 'nothing')} does not exist`],
    ];
    for (const [args, message] of cases) {
      const r = altreg(...args);
      expect([r.code, r.stderr.trim()], args.join(' ')).toEqual([2, message]);
    }
    // The same flags resume, and the record counts every epoch.
    const again = altreg('compare', ...flags.filter((f) => f !== '--quiet'), '--resume', dir, '--save', dir);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('altreg: training 6 models (3 arms × 2 folds), resumed after 1 epoch, on iris');
    expect(again.stdout).toContain(', 2 epochs (1 after resuming), batch 16)');
    // Progress counts the epochs of the whole run, as the heading does.
    expect(again.stderr).toMatch(/\n6 models: epoch 2\/2: loss /);
    expect(again.stderr).not.toMatch(/epoch 1\/1/);
    // The note on missing controls counts every epoch, and a resumed comparison cannot add arms.
    expect(again.stdout).toContain(
      '\nMissing control: constant@0.0075 is plain L2 as strong on average as alternate, over 2 epochs. Without it, a gain over plain L2 at the same λ may only mean that λ was too strong. A new comparison can list it in --schedules (a resumed one keeps its arms).\n',
    );
    expect(JSON.parse(readFileSync(join(dir, 'altreg-run.json'), 'utf8')).epochs).toBe(2);
    // Nothing of the save's working folders is left, beside the folder or in it.
    expect(readdirSync(temp).filter((name) => name.startsWith('cmp'))).toEqual(['cmp']);
    expect(readdirSync(dir).filter((name) => name.startsWith('.altreg-'))).toEqual([]);

    // --l2 is part of the experiment only where an arm trains with it: arms that each give their
    // own λ resume under any --l2 (it was refused), an arm's λ still has to match.
    const own = join(temp, 'own-lambda');
    const perArm = ['compare', ...flags, '--schedules', 'none,constant@0.02,alternate@0.05'];
    expect(altreg(...perArm, '--save', own).code).toBe(0);
    expect(JSON.parse(readFileSync(join(own, 'altreg-run.json'), 'utf8')).flags['--l2']).toBeUndefined();
    const otherL2 = altreg(...perArm, '--l2', '0.3', '--resume', own, '--save', own);
    expect(otherL2.code, otherL2.stderr).toBe(0);
    const otherArm = altreg('compare', ...flags, '--schedules', 'none,constant@0.03,alternate@0.05', '--resume', own);
    expect([otherArm.code, otherArm.stderr.trim()]).toEqual([2, `altreg: --resume: ${own} was trained with other flags (--schedules none,constant@0.02,alternate@0.05 there, none,constant@0.03,alternate@0.05 here); resume with the flags it was trained with (--epochs, --device and the output flags may differ)`]);
    // Where an arm takes --l2, it must match; a record that holds --l2 though no arm uses it (as
    // earlier versions wrote) resumes.
    const changedL2 = altreg('compare', ...flags, '--resume', dir, '--l2', '0.02');
    expect([changedL2.code, changedL2.stderr.trim()]).toEqual([2, `altreg: --resume: ${dir} was trained with other flags (--l2 0.01 there, 0.02 here); resume with the flags it was trained with (--epochs, --device and the output flags may differ)`]);
    const record = JSON.parse(readFileSync(join(own, 'altreg-run.json'), 'utf8'));
    writeFileSync(join(own, 'altreg-run.json'), JSON.stringify({ ...record, flags: { ...record.flags, '--l2': '0.01' } }));
    expect(altreg(...perArm, '--l2', '0.5', '--resume', own).code).toBe(0);
    // Only --l2 may be missing here: any other flag of the record is compared.
    writeFileSync(join(own, 'altreg-run.json'), JSON.stringify({ ...record, flags: { ...record.flags, '--dropout': '0.5' } }));
    const extra = altreg(...perArm, '--resume', own);
    expect([extra.code, extra.stderr.trim()]).toEqual([2, `altreg: --resume: ${own} was trained with other flags (--dropout 0.5 there, (not given) here); resume with the flags it was trained with (--epochs, --device and the output flags may differ)`]);
    // A flag named as a method of every object is compared as a flag.
    writeFileSync(join(own, 'altreg-run.json'), JSON.stringify({ ...record, flags: { ...record.flags, toString: 'x' } }));
    const method = altreg(...perArm, '--resume', own);
    expect([method.code, method.stderr.trim()]).toEqual([2, `altreg: --resume: ${own} was trained with other flags (toString x there, (not given) here); resume with the flags it was trained with (--epochs, --device and the output flags may differ)`]);

    // The data is recorded by its values, not its name: same file name and shape, other values.
    const data = join(temp, 'same-name');
    mkdirSync(data, { recursive: true });
    const csv = join(data, 'small.csv');
    const write = (shift: number) => writeFileSync(csv, 'a,label\n' + Array.from({ length: 12 }, (_, i) => `${i + shift},${i % 2 ? 'x' : 'y'}`).join('\n') + '\n');
    write(0);
    const small = join(temp, 'small-ck');
    expect(altreg('train', '--data', csv, '--epochs', '1', '--device', 'cpu', '--quiet', '--save', small).code).toBe(0);
    write(100);
    const changed = altreg('train', '--data', csv, '--epochs', '1', '--device', 'cpu', '--quiet', '--resume', small);
    expect([changed.code, changed.stderr]).toEqual([2, expect.stringMatching(/^altreg: --resume: \S+ was trained with other flags \(--data small \(12 rows, 1 feature, 2 classes\), sha256 [0-9a-f]{16} there, small \(12 rows, 1 feature, 2 classes\), sha256 [0-9a-f]{16} here\)/)]);
    // Checkpoints without the record (saved by the library) are not the CLI's to resume.
    rmSync(join(small, 'altreg-run.json'));
    write(0);
    const bare = altreg('train', '--data', csv, '--epochs', '1', '--device', 'cpu', '--quiet', '--resume', small);
    expect([bare.code, bare.stderr.trim()]).toEqual([2, `altreg: --resume: ${small} has no altreg-run.json, so it was not saved by \`altreg … --save\` (a checkpoint saved by the library continues with the library's train({ resume }))`]);
  });

  it('--resume refuses, before any GPU work, checkpoints at other epochs than the run record or of another shape', () => {
    const flags = ['--data', 'iris', '--folds', '3', '--device', 'cpu', '--quiet'];
    const [mixed, later, digits] = ['mixed', 'later', 'digits'].map((name) => join(temp, name));
    expect(altreg('train', ...flags, '--epochs', '2', '--save', mixed).code).toBe(0);
    expect(altreg('train', ...flags, '--epochs', '3', '--save', later).code).toBe(0);
    expect(altreg('train', '--data', 'digits', '--folds', '3', '--device', 'cpu', '--quiet', '--epochs', '3', '--save', digits).code).toBe(0);
    const resume = (dir: string) => {
      // Without --device cpu: the refusal comes before a GPU is looked for.
      const r = altreg('train', '--data', 'iris', '--folds', '3', '--epochs', '1', '--resume', dir);
      return [r.code, r.stderr.trim(), r.stdout];
    };
    // One fold of a longer run copied in: the folder no longer holds one run.
    rmSync(join(mixed, 'fold-1'), { recursive: true });
    cpSync(join(later, 'fold-1'), join(mixed, 'fold-1'), { recursive: true });
    expect(resume(mixed)).toEqual([2, `altreg: --resume: ${mixed} does not hold one run's checkpoints: its altreg-run.json records 2 epochs, but ${mixed}/fold-0, ${mixed}/fold-2 at epoch 2; ${mixed}/fold-1 at epoch 3; resume from a folder that one --save wrote`, '']);
    // Every fold of the longer run, under the record of the shorter one.
    for (const fold of ['fold-0', 'fold-2']) cpSync(join(later, fold), join(mixed, fold), { recursive: true });
    expect(resume(mixed)).toEqual([2, `altreg: --resume: ${mixed} does not hold one run's checkpoints: its altreg-run.json records 2 epochs, but ${mixed}/fold-0, ${mixed}/fold-1, ${mixed}/fold-2 at epoch 3; resume from a folder that one --save wrote`, '']);
    // A fold of another data set: said in the model's layers, not in the library's terms.
    rmSync(join(later, 'fold-0'), { recursive: true });
    cpSync(join(digits, 'fold-0'), join(later, 'fold-0'), { recursive: true });
    expect(resume(later)).toEqual([2, `altreg: --resume: ${later}/fold-0 holds a model of 64 → 10 → 10, this run's is 4 → 10 → 3; resume from the folder this experiment's --save wrote`, '']);
    // A file is not a folder of checkpoints.
    expect(resume(join(later, 'altreg-run.json'))).toEqual([2, `altreg: --resume: ${join(later, 'altreg-run.json')} is a file, not a folder; give the folder a --save wrote`, '']);
  });

  it("--save replaces its folder's checkpoints; a folder whose could not be, or one under /proc, is refused before training", () => {
    // As a user whom permissions bind, in a folder of their own (the reviewer's case).
    const dir = join(open, 'whole');
    const flags = ['train', '--data', 'iris', '--folds', '3', '--device', 'cpu', '--quiet', '--epochs', '2'];
    const first = run({ unprivileged: true }, ...flags, '--save', dir);
    expect(first.code, first.stderr).toBe(0);
    const epochs = () => [0, 1, 2].map((f) => JSON.parse(readFileSync(join(dir, `fold-${f}`, 'manifest.json'), 'utf8')).epoch);
    const recorded = () => JSON.parse(readFileSync(join(dir, 'altreg-run.json'), 'utf8')).epochs;
    // The old checkpoints are removed once the new ones are in place: a fold folder that cannot
    // be emptied stops the run before it trains, and nothing is written.
    chmodSync(join(dir, 'fold-1'), 0o555);
    const refused = run({ unprivileged: true }, ...flags, '--resume', dir, '--save', dir);
    expect([refused.code, refused.stderr.trim(), refused.stdout]).toEqual([2, `altreg: --save: cannot write in ${dir}/fold-1 (EACCES), so ${dir}'s checkpoints cannot be replaced; make it writable or choose a new folder`, '']);
    expect([epochs(), recorded()]).toEqual([[2, 2, 2], 2]);
    chmodSync(join(dir, 'fold-1'), 0o755);
    const resumed = run({ unprivileged: true }, ...flags, '--resume', dir, '--save', dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect([epochs(), recorded()]).toEqual([[4, 4, 4], 4]);
    expect(readdirSync(open).filter((name) => name.startsWith('whole'))).toEqual(['whole']);
    expect(readdirSync(dir).filter((name) => name.startsWith('.altreg-'))).toEqual([]);

    // /proc takes no folders (Node's recursive mkdir would spin there forever); root may write there, so as root.
    const proc = altreg('train', '--data', 'iris', '--epochs', '1', '--device', 'cpu', '--save', '/proc/altreg-checkpoints');
    expect([proc.code, proc.stderr.trim(), proc.stdout]).toEqual([2, "altreg: --save: /proc is on the kernel's proc file system, which holds no files of ours; choose a folder on a disk", '']);
    const json = altreg('train', '--data', 'iris', '--epochs', '1', '--device', 'cpu', '--json', '/proc/altreg.json');
    expect([json.code, json.stderr.trim(), json.stdout]).toEqual([2, "altreg: --json: /proc is on the kernel's proc file system, which holds no files of ours; choose a folder on a disk", '']);
    // The folder itself stays: `--save .` from inside it, twice, keeps the shell's folder and
    // its mode (a mounted volume is the same case: it cannot be renamed).
    const here = join(open, 'here');
    mkdirSync(here);
    chmodSync(here, 0o2750);
    const inode = statSync(here).ino;
    const dot = ['train', '--data', 'iris', '--epochs', '1', '--device', 'cpu', '--quiet', '--save', '.'];
    expect(run({ cwd: here }, ...dot).code).toBe(0);
    const again = run({ cwd: here }, ...dot, '--resume', '.');
    expect(again.code, again.stderr).toBe(0);
    expect([statSync(here).ino, statSync(here).mode & 0o7777]).toEqual([inode, 0o2750]);
    expect(readdirSync(here).sort()).toEqual(['altreg-run.json', 'manifest.json', 'weights.safetensors']);
    expect(JSON.parse(readFileSync(join(here, 'manifest.json'), 'utf8')).epoch).toBe(2);
    // A save killed in the middle of its swap (its manifest moved aside, the new run record not
    // yet in place): the next --resume puts the checkpoint back, says so, and goes on from it.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    mkdirSync(join(here, `.altreg-new-${dead}-1`));
    writeFileSync(join(here, `.altreg-new-${dead}-1`, 'altreg-run.json'), '{}');
    mkdirSync(join(here, `.altreg-old-${dead}-1`));
    renameSync(join(here, 'manifest.json'), join(here, `.altreg-old-${dead}-1`, 'manifest.json'));
    const recovered = run({ cwd: here }, 'train', '--data', 'iris', '--epochs', '1', '--device', 'cpu', '--resume', '.', '--save', '.');
    expect(recovered.code, recovered.stderr).toBe(0);
    expect(recovered.stderr).toContain(`altreg: --resume .: put back the checkpoints a save cut short had moved aside (.altreg-old-${dead}-1)\n`);
    expect(readdirSync(here).sort()).toEqual(['altreg-run.json', 'manifest.json', 'weights.safetensors']);
    expect(JSON.parse(readFileSync(join(here, 'manifest.json'), 'utf8')).epoch).toBe(3);
  });

  it('an output that cannot be written after training loses not the report; one that surely cannot is refused before', () => {
    const fast = ['train', '--data', 'iris', '--epochs', '1', '--device', 'cpu', '--quiet'];
    const full = altreg(...fast, '--json', '/dev/full');
    expect(full.code).toBe(1);
    expect(full.stdout).toMatch(/^Classification report \(constant L2, λ 0\.01, holdout test set; iris\):\n[\s\S]*\nlog-loss \d\.\d{4}\n(\nIll-defined scores [^\n]*\n( {2}[^\n]+\n)+)?$/);
    expect(full.stderr.trim()).toBe('altreg: --json: cannot write /dev/full (ENOSPC)');
    // In a sticky folder (like /tmp), another user's file cannot be renamed over, whatever its
    // mode: as root, the file is root's and the run nobody's.
    if (process.getuid?.() !== 0) return;
    const sticky = join(open, 'sticky');
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    const theirs = join(sticky, 'out.json');
    writeFileSync(theirs, 'theirs\n');
    chmodSync(theirs, 0o666);
    const other = run({ unprivileged: true }, ...fast, '--json', theirs);
    expect([other.code, other.stderr.trim(), other.stdout]).toEqual([2, `altreg: --json: cannot replace ${theirs}: it belongs to another user and ${sticky} is sticky (only they may replace it); choose another name`, '']);
    expect(readFileSync(theirs, 'utf8')).toBe('theirs\n');
  });

  it('polish: suggestions kept, decimal numbers only, no penalty said so, --json - is stdout, one adapter note', () => {
    expect(altreg('train', '--data', 'iris', '--epoch', '5').stderr.trim()).toBe("altreg: unknown option '--epoch'; did you mean --epochs? (see --help)");
    expect(altreg('trian').stderr.trim()).toBe("altreg: unknown command 'trian'; did you mean train? (see --help)");
    expect(altreg('train', '--data', 'iris', '--l2', '0x10')).toMatchObject({ code: 2, stderr: "altreg: --l2 must be a number from 0 to 1.7e38 (2λ must fit in a float32), got '0x10' (see --help)" });
    expect(altreg('train', '--data', 'iris', '--lr', '0b1')).toMatchObject({ code: 2, stderr: "altreg: --lr must be a number > 0, got '0b1' (see --help)" });
    expect(altreg('train', '--data', 'iris', '--validation', '0x0').code).toBe(2);
    const none = altreg('train', '--data', 'iris', '--epochs', '1', '--device', 'cpu', '--quiet', '--schedule', 'none', '--lr', '1e-2', '--l2', '.5');
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout).toMatch(/^Classification report \(no penalty, holdout test set; iris\):\n/);
    // `-` is stdout, and stdout then holds the JSON alone (the report goes to stderr); no file named '-'.
    const cwd = join(temp, 'dash');
    mkdirSync(cwd);
    const dash = run({ cwd }, 'train', '--data', 'iris', '--epochs', '1', '--device', 'cpu', '--json', '-');
    expect(dash.code, dash.stderr).toBe(0);
    expect(JSON.parse(dash.stdout).tool).toBe('altreg');
    expect(dash.stderr).toMatch(/^altreg: wrote the JSON to stdout\nClassification report \(constant L2/m);
    expect(readdirSync(cwd)).toEqual([]);
    expect(altreg('train', '--help').stdout).toMatch(/--json <file>\s+write the full results and per-epoch history\s+as\s+JSON\s+\(written\s+atomically;\s+-\s+for\s+stdout,\s+the\s+report\s+then\s+on\s+stderr\)/);
    // Without an adapter the note says so once.
    const cpu = run({ env: NO_ADAPTER }, 'train', '--data', 'iris', '--epochs', '1', '--quiet');
    expect(cpu.code, cpu.stderr).toBe(0);
    const notes = cpu.stderr.split('\n').filter((line) => line.startsWith('altreg: '));
    expect(notes).toEqual([expect.stringMatching(/^altreg: no WebGPU adapter: tried [^;]+; training on the CPU reference trainer$/)]);
    expect(notes[0].split('no WebGPU adapter')).toHaveLength(2);
  });

  it('a holdout needs a class of two rows; a holdout comparison says it has no spread', () => {
    const file = join(temp, 'singles.csv');
    writeFileSync(file, 'a,label\n1,x\n2,y\n3,z\n4,w\n');
    const r = altreg('train', '--data', file, '--epochs', '1');
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^altreg: \S+singles\.csv \(the 80\/20 holdout split\): all 4 classes have a single row, so a stratified split puts none on the test side; at least one class needs 2 rows/);
    // The split of each training part into training and validation rows is named by its flag.
    const two = join(temp, 'two.csv');
    writeFileSync(two, 'a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n');
    const validation = altreg('train', '--data', two, '--epochs', '2');
    expect([validation.code, validation.stderr.trim()]).toEqual([
      2,
      `altreg: ${two} (--validation 0.1 of each training part): all 2 classes have a single row, so a stratified split puts none on the validation side; at least one class needs 2 rows; --validation 0 holds none out`,
    ]);
    const holdout = altreg('compare', '--data', 'iris', '--epochs', '2', '--device', 'cpu');
    expect(holdout.code, holdout.stderr).toBe(0);
    expect(holdout.stdout).toContain('\none holdout test set: no spread and no paired differences (k-fold cross-validation gives both).');
    // Progress without a terminal: one model's lines say so.
    const one = altreg('train', '--data', 'iris', '--epochs', '2', '--device', 'cpu');
    expect(one.stderr).toMatch(/\n1 model: epoch 2\/2: loss \d\.\d{4}, train acc \d\.\d{3}, val acc \d\.\d{3}\n/);
  });

  it('large CSVs: --resume, --save and --json are checked before the data is read; a note while it is read; one too large for Node said so', () => {
    // A data file that does not exist: each output's error comes first, so the data was not read.
    const missing = join(temp, 'not-there.csv');
    const file = join(temp, 'plain-file');
    writeFileSync(file, 'x\n');
    const first: [string[], string][] = [
      [['--resume', join(temp, 'no-such-run')], `altreg: --resume: ${join(temp, 'no-such-run')} does not exist`],
      [['--resume', file], `altreg: --resume: ${file} is a file, not a folder; give the folder a --save wrote`],
      [['--save', '/proc/altreg-checkpoints'], "altreg: --save: /proc is on the kernel's proc file system, which holds no files of ours; choose a folder on a disk"],
      [['--save', file], `altreg: --save: ${file} exists and is not a folder`],
      [['--json', '/proc/altreg.json'], "altreg: --json: /proc is on the kernel's proc file system, which holds no files of ours; choose a folder on a disk"],
      [['--json', temp], `altreg: --json: ${temp} is a folder; give a file name`],
    ];
    for (const [flags, message] of first) {
      const r = altreg('compare', '--data', missing, '--folds', '5', '--epochs', '1', ...flags);
      expect([r.code, r.stderr.trim(), r.stdout], flags.join(' ')).toEqual([2, message, '']);
    }
    expect(altreg('train', '--data', missing).stderr.trim()).toBe(`altreg: cannot read ${missing} (ENOENT)`);

    // Over READ_NOTE_BYTES (20 MB), a note before the seconds of reading; here the parse then
    // stops at a bad cell, so nothing trains.
    const big = join(temp, 'big.csv');
    const row = '0.125,0.250,x\n';
    writeFileSync(big, 'a,b,label\n0.5,wide,y\n' + row.repeat(Math.ceil(READ_NOTE_BYTES / row.length)));
    const size = statSync(big).size;
    expect(size).toBeGreaterThan(READ_NOTE_BYTES);
    const noted = altreg('train', '--data', big, '--epochs', '1');
    expect([noted.code, noted.stderr.split('\n')]).toEqual([2, [`altreg: reading ${big} (${Math.round(size / 1e6)} MB)…`, 'altreg: big.csv line 2, column 2 ("b"): "wide" is not a number']]);
    expect(altreg('train', '--data', big, '--epochs', '1', '--quiet').stderr.trim()).toBe('altreg: big.csv line 2, column 2 ("b"): "wide" is not a number');
    rmSync(big);

    // Node reads no file of MAX_STRING_LENGTH bytes or more into a string: refused from its size
    // (a sparse file: no disk used), before any note or read.
    const huge = join(temp, 'huge.csv');
    writeFileSync(huge, '');
    truncateSync(huge, 600_000_000);
    const tooLarge = altreg('train', '--data', huge, '--epochs', '1');
    expect([tooLarge.code, tooLarge.stderr.trim()]).toEqual([2, `altreg: cannot read ${huge}: it is 600 MB, and a CSV must be under 536,870,888 bytes (about 512 MiB, Node's longest string)`]);
    rmSync(huge);
    expect(() => checkCsvSize('x.csv', constants.MAX_STRING_LENGTH - 1)).not.toThrow();
    expect(() => checkCsvSize('x.csv', constants.MAX_STRING_LENGTH)).toThrow(/^cannot read x\.csv: it is 537 MB, and a CSV must be under/);
  });

  it('--json writes each array of numbers on one line: a confusion matrix of 20 classes is one line a fold', () => {
    const csv = join(temp, 'c20.csv');
    writeFileSync(csv, 'a,b,label\n' + Array.from({ length: 200 }, (_, i) => `${i % 20}.5,${(i * 7) % 13},c${i % 20}`).join('\n') + '\n');
    const json = join(temp, 'c20.json');
    const r = altreg('compare', '--data', csv, '--schedules', 'none,alternate', '--folds', '2', '--epochs', '2', '--device', 'cpu', '--quiet', '--json', json);
    expect(r.code, r.stderr).toBe(0);
    const text = readFileSync(json, 'utf8');
    const result = JSON.parse(text);
    // The old format (a number a line) parses to the same value and is far larger.
    const old = JSON.stringify(result, null, 1) + '\n';
    expect(JSON.parse(old)).toEqual(result);
    expect(text.replace(/\s/g, '')).toBe(old.replace(/\s/g, ''));
    const confusions = text.split('\n').filter((line) => line.trimStart().startsWith('"confusion"'));
    expect(confusions).toHaveLength(4);
    for (const line of confusions) expect(line).toMatch(/^ +"confusion": \[\d+(,\d+){399}\],$/);
    expect(text).toMatch(/\n {7}"mask": \[(true|false),(true|false)\],\n/);
    // A count a line took a line and 6 spaces more for each of the 4 × 400 counts (and two for
    // the brackets); the per-class reports (objects) keep their lines.
    expect(old.length - text.length).toBeGreaterThan(4 * 400 * 7);
    expect(text.split('\n').length).toBeLessThanOrEqual(old.split('\n').length - 4 * 401);
  });

  it('a shape llvmpipe cannot run is named by its flag, before training', () => {
    const csv = join(temp, 'tall.csv');
    writeFileSync(csv, 'a,b,label\n' + Array.from({ length: 60000 }, (_, i) => `${i % 7},${i % 5},${i % 3}`).join('\n') + '\n');
    const r = altreg('train', '--data', csv, '--batch-size', '50000', '--epochs', '1', '--device', 'gpu');
    if (!/llvmpipe|swiftshader/i.test(r.stderr)) return expect(r.code, r.stderr).toBe(0);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^altreg: --batch-size 50000 \(capped to the 43,200 rows of the largest training set\): the weight gradients sum over a batch's rows, at most [\d,]+ on .*; use --batch-size ≤ \d+, or train with --device cpu \(the CPU reference trainer has no such limit\)$/m);
    expect(r.stderr).not.toContain('altreg: training');
    const wide = altreg('train', '--data', csv, '--hidden', '50000', '--epochs', '1', '--device', 'gpu');
    expect(wide.stderr).toMatch(/^altreg: --hidden 50000 \(layer 1: 50000\): the inputs of layer 1 are the inner dimension of a matrix product, .*or train with --device cpu/m);
  });

  it('--help on every command', () => {
    for (const command of [[], ['train'], ['compare'], ['demo'], ['tune'], ['selfcheck']]) {
      const r = altreg(...command, '--help');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: altreg/);
    }
    expect(altreg('compare', '--help').stdout).toMatch(/--schedules <list>/);
    expect(altreg('train', '--help').stdout).toMatch(/at most 160k multiply-adds per step[\s\S]*\(LP_NUM_THREADS=0\)/);
    expect(altreg('tune', '--help').stdout).toMatch(/\$ALTREG_CACHE_DIR, else \$XDG_CACHE_HOME\/altreg, else ~\/.cache\/altreg/);
  });

  it('tune: times the candidates, saves the best for this adapter, and train then uses it', () => {
    const json = join(temp, 'tune.json');
    const r = altreg('tune', '--runs', '1', '--json', json);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/altreg: candidate 1\/2: direct: [\d.]+ GFLOP\/s/);
    expect(r.stdout).toMatch(/^matmul tuning on llvmpipe/);
    expect(r.stdout).toMatch(/\ndirect {2,}\d[\d. ]+/);
    expect(r.stdout).toMatch(/\ntiled 16×16, BK 8 {2,}[\d. ]+/);
    const saved = JSON.parse(readFileSync(join(temp, 'cache', 'matmul-tuning.json'), 'utf8'));
    const [entry] = Object.values(saved.adapters) as { best: { strategy: string; tiles?: { wgX: number; wgY: number; bk: number } } }[];
    const best = entry.best.strategy === 'direct' ? 'direct' : `tiled ${entry.best.tiles!.wgX}×${entry.best.tiles!.wgY}, BK ${entry.best.tiles!.bk}`;
    expect(r.stdout).toContain(`saved to ${join(temp, 'cache', 'matmul-tuning.json')}: train, compare and demo use ${best} on this adapter`);
    expect(r.stdout).toMatch(new RegExp(`\\n${best}\\s[^\\n]*<- best\\n`));
    expect(JSON.parse(readFileSync(json, 'utf8')).candidates).toHaveLength(2);
    const train = altreg('train', '--data', 'iris', '--epochs', '2');
    expect(train.code, train.stderr).toBe(0);
    expect(train.stderr).toContain(`, matmul ${best} (tuned)`);
  });
});

/** The CLI started asynchronously, for what needs it running: a signal, a reader that goes away. */
function start(...args: string[]) {
  return spawn(process.execPath, [cli, ...args], { env: { ...process.env, EGL_PLATFORM: 'surfaceless', ALTREG_CACHE_DIR: join(temp, 'cache') } });
}

/** Its exit, with stderr less Dawn's notices. */
function ended(child: ReturnType<typeof start>, stderr: () => string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((done) => child.on('close', (code, signal) => done({ code, signal, stderr: stderr().split('\n').filter((l) => !/^Warning: |artificially reduced|^\s+at operator|^$/.test(l)).join('\n') })));
}

describe('as a new user meets it', () => {
  it("a flag's missing value is not taken from the next flag: --json --quiet writes no file named --quiet", () => {
    const cwd = join(temp, 'swallowed');
    mkdirSync(cwd);
    const quick = ['train', '--data', 'iris', '--epochs', '1', '--device', 'cpu'];
    const json = run({ cwd }, ...quick, '--json', '--quiet');
    expect([json.code, json.stderr.trim(), json.stdout]).toEqual([2, "altreg: --json needs a value, but '--quiet' after it is a flag (a path that starts with -- can be given as ./--quiet) (see --help)", '']);
    expect(readdirSync(cwd)).toEqual([]);
    // commander took --epochs as the folder and then said "too many arguments" of the 1.
    const save = run({ cwd }, 'train', '--data', 'iris', '--save', '--epochs', '1');
    expect([save.code, save.stderr.trim()]).toEqual([2, "altreg: --save needs a value, but '--epochs' after it is a flag (a path that starts with -- can be given as ./--epochs) (see --help)"]);
    expect(altreg('compare', '--data', 'iris', '--schedules', '--folds', '3').stderr.trim()).toBe("altreg: --schedules needs a value, but '--folds' after it is a flag (see --help)");
    expect(altreg('train', '--data', 'iris', '--lr', '--epochs', '3').stderr.trim()).toBe("altreg: --lr needs a value, but '--epochs' after it is a flag (see --help)");
    expect(altreg('train', '--data', 'iris', '--activation', '--epochs', '3').stderr.trim()).toBe("altreg: --activation needs a value, but '--epochs' after it is a flag (see --help)");
    expect(readdirSync(cwd)).toEqual([]);
    // What the message offers works: ./--quiet is a file of that name.
    const named = run({ cwd }, ...quick, '--quiet', '--json', './--quiet');
    expect(named.code, named.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(cwd, '--quiet'), 'utf8')).tool).toBe('altreg');
  });

  it("commander's own errors say the flag and what is valid once, as the CLI's other messages do", () => {
    expect(altreg('train', '--data', 'iris', '--epochs', '0').stderr.trim()).toBe("altreg: --epochs must be an integer from 1 to 1000000, got '0' (see --help)");
    expect(altreg('train', '--data', 'iris', '--activation', 'Relu').stderr.trim()).toBe("altreg: --activation must be one of relu, tanh, sigmoid, identity, got 'Relu' (see --help)");
    expect(altreg('train', '--data', 'iris', '--label')).toMatchObject({ code: 2, stderr: 'altreg: --label needs a value (see --help)' });
    // A word where a flag belongs: the data, given as commands of other tools take it.
    expect(altreg('train', 'iris.csv', '--epochs', '1')).toMatchObject({ code: 2, stderr: "altreg: train takes no arguments, got 'iris.csv'; give the data as --data iris.csv (see --help)" });
    expect(altreg('compare', '--data', 'iris', 'five', 'folds')).toMatchObject({ code: 2, stderr: "altreg: compare takes no arguments, got 'five folds'; every setting is a flag (see --help)" });
    expect(altreg('train', '--epochs', '1')).toMatchObject({ code: 2, stderr: 'altreg: --data is required: iris, wine, breast_cancer, digits, or a .csv file (see --help)' });
  });

  it('--help says the exit codes and shows examples, each of which runs', () => {
    const help = altreg('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('\nEvery command has --help. Exit codes:\n  0  success\n  1  a runtime failure: training diverged, no WebGPU adapter (--device gpu), an output not written\n  2  bad usage or input:');
    const examples = help.stdout.slice(help.stdout.indexOf('\nExamples:\n')).split('\n').filter((l) => l.startsWith('  altreg '));
    expect(examples).toHaveLength(4);
    // Run as written, in a folder that holds the my.csv they name (a label column not last).
    const cwd = join(temp, 'examples');
    mkdirSync(cwd);
    const rows = Array.from({ length: 40 }, (_, i) => `${i % 2 === 0 ? 'setosa' : 'virginica'},${(i % 7) + (i % 2) * 5},${i % 3}`);
    writeFileSync(join(cwd, 'my.csv'), `species,length,width\n${rows.join('\n')}\n`);
    for (const example of examples) {
      const [command, pipe] = example.trim().split(' | ');
      const r = run({ cwd }, ...command.split(' ').slice(1));
      expect([example, r.code, r.stderr.split('\n').filter((l) => /error|invalid|unknown/i.test(l))]).toEqual([example, 0, []]);
      // jq .arms[0].accuracy: the mean and std of the first arm's accuracy.
      if (pipe) expect(Object.keys(JSON.parse(r.stdout).arms[0].accuracy)).toEqual(expect.arrayContaining(['mean', 'std']));
    }
  });

  it('--device gpu without an adapter says that --device auto or cpu trains on the CPU', () => {
    const r = run({ env: NO_ADAPTER }, 'train', '--data', 'iris', '--epochs', '1', '--device', 'gpu');
    const notes = r.stderr.split('\n').filter((line) => line.startsWith('altreg: '));
    expect([r.code, notes]).toEqual([1, [expect.stringMatching(/^altreg: no WebGPU adapter: tried [^;]+; --device auto or cpu trains on the CPU reference trainer$/)]]);
  });

  it('selfcheck into a reader that goes away (| head) says so in one line, without a stack trace', async () => {
    const child = start('selfcheck');
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.stdout.destroy();
    const r = await ended(child, () => stderr);
    expect([r.code, r.stderr.split('\n').filter((l) => !l.startsWith('adapter: '))]).toEqual([1, ['altreg: cannot write to stdout (EPIPE)']]);
  });

  it('Ctrl-C during training: one line saying where it stopped and that nothing was saved or written, then the process ends by SIGINT', async () => {
    const dir = join(temp, 'interrupted');
    const json = join(temp, 'interrupted.json');
    const child = start('train', '--data', 'digits', '--epochs', '3000', '--device', 'cpu', '--save', dir, '--json', json);
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      // The first progress line (a tenth of the run): training is under way, with nine tenths (about
      // 20 s) to go.
      if (!sent && stderr.includes('1 model: epoch 300/3000')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const r = await ended(child, () => stderr);
    expect([r.code, r.signal]).toEqual([null, 'SIGINT']);
    const last = r.stderr.split('\n').at(-1)!;
    const epoch = Number(/after epoch (\d+)\//.exec(last)?.[1]);
    expect(last).toBe(`altreg: interrupted (SIGINT) after epoch ${epoch}/3000; nothing was saved to ${dir} or written to ${json}`);
    expect(epoch).toBeGreaterThanOrEqual(300);
    expect(epoch).toBeLessThan(3000);
    expect([existsSync(dir), existsSync(json)]).toEqual([false, false]);
  });
});
