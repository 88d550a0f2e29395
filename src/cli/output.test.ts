// replaceDir, behind --save: the new entries are written into a working folder inside the folder
// and then moved into place; a failure at any step leaves the previous entries as they were, and
// the folder itself (its mode, a mount, the current directory) stays.
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { jsonText } from '../experiment/format.js';
import { recoverSaveDir, replaceDir } from './output.js';

// Moving a new entry from the working folder to this path fails (a step of the swap that
// planSaveDir cannot rule out beforehand).
// Or moving an old entry aside fails as overlayfs refuses for a folder of a lower layer (EXDEV).
const failing = vi.hoisted(() => ({ renameTo: '', asideCode: '', before: null as null | ((from: string, to: string) => void) }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const renameSync: typeof fs.renameSync = (from, to) => {
    failing.before?.(String(from), String(to));
    if (String(to) === failing.renameTo && String(from).includes('.altreg-new-')) throw Object.assign(new Error(`EIO: i/o error, rename '${from}' -> '${to}'`), { code: 'EIO' });
    if (failing.asideCode && String(to).includes('.altreg-old-')) throw Object.assign(new Error(`${failing.asideCode}: rename '${from}' -> '${to}'`), { code: failing.asideCode });
    fs.renameSync(from, to);
  };
  return { ...fs, renameSync, default: { ...fs, renameSync } };
});

const temp = mkdtempSync(join(tmpdir(), 'altreg-output-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));
afterEach(() => Object.assign(failing, { renameTo: '', asideCode: '', before: null }));

/** A folder `name` under a new parent, holding one file; returns the folder. */
function folder(parent: string, name = 'ck', text = 'old\n'): string {
  const dir = join(temp, parent, name);
  mkdirSync(join(dir, 'fold-0'), { recursive: true });
  writeFileSync(join(dir, 'fold-0', 'manifest.json'), text);
  return dir;
}

const write = (text: string) => async (dir: string) => {
  mkdirSync(join(dir, 'fold-0'));
  writeFileSync(join(dir, 'fold-0', 'manifest.json'), text);
  writeFileSync(join(dir, 'altreg-run.json'), '{}\n');
};

/** A folder of three folds and a run record, each saying `text`. */
function folders(parent: string, text: string): string {
  const dir = join(temp, parent, 'ck');
  mkdirSync(dir, { recursive: true });
  writeFolds(text)(dir);
  return dir;
}

const writeFolds = (text: string) => (dir: string) => {
  mkdirSync(dir, { recursive: true });
  for (const f of [0, 1, 2]) {
    mkdirSync(join(dir, `fold-${f}`));
    writeFileSync(join(dir, `fold-${f}`, 'manifest.json'), text);
  }
  writeFileSync(join(dir, 'altreg-run.json'), text);
  return Promise.resolve();
};

/** What a folder holds: its entries, its run record's text, and each fold's. */
function state(dir: string) {
  return {
    entries: readdirSync(dir).sort(),
    record: readFileSync(join(dir, 'altreg-run.json'), 'utf8'),
    folds: [0, 1, 2].map((f) => readFileSync(join(dir, `fold-${f}`, 'manifest.json'), 'utf8')),
  };
}

describe('replaceDir', () => {
  it('replaces the entries it writes, keeps the folder with its mode, and leaves no working folder', async () => {
    const dir = folder('replaced');
    writeFileSync(join(dir, 'fold-0', 'stale'), 'x');
    chmodSync(dir, 0o2750);
    const before = statSync(dir);
    await replaceDir('--save', dir, write('new\n'));
    expect(readdirSync(dir).sort()).toEqual(['altreg-run.json', 'fold-0']);
    expect(readdirSync(join(dir, 'fold-0'))).toEqual(['manifest.json']);
    expect(readFileSync(join(dir, 'fold-0', 'manifest.json'), 'utf8')).toBe('new\n');
    const after = statSync(dir);
    expect([after.ino, after.mode, after.uid]).toEqual([before.ino, before.mode, before.uid]);
    expect(readdirSync(join(temp, 'replaced'))).toEqual(['ck']);
  });

  it("removes the working folders a save cut short left behind", async () => {
    const dir = folder('cut-short');
    mkdirSync(join(dir, '.altreg-new-123-456'));
    mkdirSync(join(dir, '.altreg-old-123-456'));
    writeFileSync(join(dir, '.altreg-old-123-456', 'x'), 'x');
    await replaceDir('--save', dir, write('new\n'));
    expect(readdirSync(dir).sort()).toEqual(['altreg-run.json', 'fold-0']);
  });

  it('makes a new folder and its missing parents', async () => {
    const dir = join(temp, 'fresh', 'a', 'ck');
    await replaceDir('--save', dir, write('new\n'));
    expect(readFileSync(join(dir, 'fold-0', 'manifest.json'), 'utf8')).toBe('new\n');
    expect(readdirSync(join(temp, 'fresh', 'a'))).toEqual(['ck']);
  });

  it('a failure while writing leaves the old folder untouched and removes the half-written one', async () => {
    const dir = folder('failed-write');
    const partly = async (into: string) => {
      await write('new\n')(into);
      throw Object.assign(new Error("EACCES: permission denied, mkdir 'fold-1'"), { code: 'EACCES' });
    };
    await expect(replaceDir('--save', dir, partly)).rejects.toThrow(`--save: cannot write ${dir} (EACCES)`);
    expect(readdirSync(dir)).toEqual(['fold-0']);
    expect(readdirSync(join(dir, 'fold-0'))).toEqual(['manifest.json']);
    expect(readFileSync(join(dir, 'fold-0', 'manifest.json'), 'utf8')).toBe('old\n');
    expect(readdirSync(join(temp, 'failed-write'))).toEqual(['ck']);
  });

  it('a failure to move a new entry in puts the old entries back', async () => {
    const dir = folder('failed-rename');
    failing.renameTo = join(dir, 'fold-0');
    await expect(replaceDir('--save', dir, write('new\n'))).rejects.toThrow(`--save: cannot write ${dir} (EIO)`);
    expect(readFileSync(join(dir, 'fold-0', 'manifest.json'), 'utf8')).toBe('old\n');
    expect(readdirSync(dir)).toEqual(['fold-0']);
    expect(readdirSync(join(temp, 'failed-rename'))).toEqual(['ck']);
  });

  it('a failure in the middle of the swap takes the new entries out and puts every old one back', async () => {
    const dir = folders('failed-midway', 'old');
    failing.renameTo = join(dir, 'fold-1');
    await expect(replaceDir('--save', dir, writeFolds('new'))).rejects.toThrow(`--save: cannot write ${dir} (EIO)`);
    expect(state(dir)).toEqual({ entries: ['altreg-run.json', 'fold-0', 'fold-1', 'fold-2'], record: 'old', folds: ['old', 'old', 'old'] });
  });

  it('where an old folder cannot be moved aside (overlayfs: EXDEV), it is removed in place', async () => {
    const dir = folders('overlay', 'old');
    failing.asideCode = 'EXDEV';
    await replaceDir('--save', dir, writeFolds('new'));
    expect(state(dir)).toEqual({ entries: ['altreg-run.json', 'fold-0', 'fold-1', 'fold-2'], record: 'new', folds: ['new', 'new', 'new'] });
  });

  it('recoverSaveDir undoes a swap cut short before the run record moved, and clears one cut short after', () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    // Cut short after fold-0 was swapped: fold-0 new, its old one aside; fold-1, fold-2 and the record still to move.
    const undo = folders('cut-before', 'old');
    const [fresh, old] = [join(undo, `.altreg-new-${dead}-1`), join(undo, `.altreg-old-${dead}-1`)];
    writeFolds('new')(fresh);
    mkdirSync(old);
    renameSync(join(undo, 'fold-0'), join(old, 'fold-0'));
    renameSync(join(fresh, 'fold-0'), join(undo, 'fold-0'));
    expect(recoverSaveDir(undo)).toBe(`put back the checkpoints a save cut short had moved aside (.altreg-old-${dead}-1)`);
    expect(state(undo)).toEqual({ entries: ['altreg-run.json', 'fold-0', 'fold-1', 'fold-2'], record: 'old', folds: ['old', 'old', 'old'] });
    // Cut short after the record moved: the save had taken effect; only its working folders go.
    const done = folders('cut-after', 'new');
    mkdirSync(join(done, `.altreg-new-${dead}-2`));
    mkdirSync(join(done, `.altreg-old-${dead}-2`));
    writeFileSync(join(done, `.altreg-old-${dead}-2`, 'stale'), 'x');
    expect(recoverSaveDir(done)).toBe(`removed the working folders of a save cut short (${dead}-2)`);
    expect(state(done)).toEqual({ entries: ['altreg-run.json', 'fold-0', 'fold-1', 'fold-2'], record: 'new', folds: ['new', 'new', 'new'] });
    // A first save cut short after fold-0 and fold-1 moved in (nothing to move aside): they go, and
    // the folder is empty again, as before it (they used to stay, without a run record).
    const first = join(temp, 'cut-first');
    mkdirSync(first);
    const [firstFresh, firstOld] = [join(first, `.altreg-new-${dead}-4`), join(first, `.altreg-old-${dead}-4`)];
    writeFolds('new')(firstFresh);
    mkdirSync(firstOld);
    writeFileSync(join(firstOld, '.altreg-moving-in.json'), JSON.stringify(['fold-0', 'fold-1', 'fold-2']));
    for (const fold of ['fold-0', 'fold-1']) renameSync(join(firstFresh, fold), join(first, fold));
    // What the user (or the system) put in the folder meanwhile is not the save's: it stays.
    writeFileSync(join(first, 'notes.txt'), 'mine');
    mkdirSync(join(first, 'analysis'));
    expect(recoverSaveDir(first)).toBe('removed what a save cut short had moved in without replacing anything (fold-0, fold-1)');
    expect(readdirSync(first).sort()).toEqual(['analysis', 'notes.txt']);
    // Without the list (cut short before it was written, or an older version's save), nothing is removed.
    const unlisted = join(temp, 'cut-unlisted');
    mkdirSync(unlisted);
    writeFolds('new')(join(unlisted, `.altreg-new-${dead}-6`));
    mkdirSync(join(unlisted, `.altreg-old-${dead}-6`));
    writeFileSync(join(unlisted, 'notes.txt'), 'mine');
    expect(recoverSaveDir(unlisted)).toBe(`removed the working folders of a save cut short (${dead}-6)`);
    expect(readdirSync(unlisted)).toEqual(['notes.txt']);
    // A replacing save cut short, where one fold was new (the old run had fewer): that one goes too.
    const mixed = folders('cut-mixed', 'old');
    rmSync(join(mixed, 'fold-2'), { recursive: true });
    const [mixedFresh, mixedOld] = [join(mixed, `.altreg-new-${dead}-5`), join(mixed, `.altreg-old-${dead}-5`)];
    writeFolds('new')(mixedFresh);
    mkdirSync(mixedOld);
    writeFileSync(join(mixedOld, '.altreg-moving-in.json'), JSON.stringify(['fold-0', 'fold-1', 'fold-2']));
    renameSync(join(mixed, 'fold-0'), join(mixedOld, 'fold-0'));
    for (const fold of ['fold-0', 'fold-2']) renameSync(join(mixedFresh, fold), join(mixed, fold));
    expect(recoverSaveDir(mixed)).toBe(
      `put back the checkpoints a save cut short had moved aside (.altreg-old-${dead}-5); removed what a save cut short had moved in without replacing anything (fold-2)`,
    );
    expect(readdirSync(mixed).sort()).toEqual(['altreg-run.json', 'fold-0', 'fold-1']);
    expect(['altreg-run.json', 'fold-0/manifest.json', 'fold-1/manifest.json'].map((f) => readFileSync(join(mixed, f), 'utf8'))).toEqual(['old', 'old', 'old']);
    // A save still running (here this process) is left alone.
    const running = folders('running', 'old');
    mkdirSync(join(running, `.altreg-new-${process.pid}-3`));
    expect(recoverSaveDir(running)).toBe('');
    expect(readdirSync(running)).toContain(`.altreg-new-${process.pid}-3`);
  });

  it('a first save killed between two moves is undone by the next save or resume', async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const dir = join(temp, 'killed-first', 'ck');
    mkdirSync(dir, { recursive: true });
    // The folder as a kill just before fold-1 moves in would leave it (fold-0 in, the rest waiting).
    const snapshot = join(temp, 'killed-first', 'snapshot');
    failing.before = (from, to) => {
      if (to === join(dir, 'fold-1') && from.includes('.altreg-new-')) cpSync(dir, snapshot, { recursive: true });
    };
    await replaceDir('--save', dir, writeFolds('new'));
    expect(state(dir).entries).toEqual(['altreg-run.json', 'fold-0', 'fold-1', 'fold-2']);
    // Its working folders as a dead process's, and a file of the user's put there meanwhile.
    for (const name of readdirSync(snapshot)) if (name.startsWith('.altreg-')) renameSync(join(snapshot, name), join(snapshot, name.replace(`-${process.pid}-`, `-${dead}-`)));
    writeFileSync(join(snapshot, 'notes.txt'), 'mine');
    expect(readdirSync(snapshot).filter((name) => !name.startsWith('.')).sort()).toEqual(['fold-0', 'notes.txt']);
    expect(recoverSaveDir(snapshot)).toBe('removed what a save cut short had moved in without replacing anything (fold-0)');
    expect(readdirSync(snapshot)).toEqual(['notes.txt']);
  });

  it('through a symbolic link, the folder it points to is replaced and the link stays', async () => {
    const dir = folder('linked', 'real');
    const link = join(temp, 'linked', 'link');
    symlinkSync(dir, link);
    await replaceDir('--save', link, write('new\n'));
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, 'fold-0', 'manifest.json'), 'utf8')).toBe('new\n');
    expect(readdirSync(join(temp, 'linked')).sort()).toEqual(['link', 'real']);
    expect(existsSync(join(dir, 'altreg-run.json'))).toBe(true);
  });
});

describe('jsonText (the --json file)', () => {
  // A result's shape: a 20-class fold's confusion matrix (flat, 400 counts), its report, its history.
  const classes = 20;
  const confusion = Array.from({ length: classes * classes }, (_, i) => (i % (classes + 1) === 0 ? 7 : i % 3));
  const result = {
    tool: 'altreg',
    adapter: undefined,
    data: { name: 'c20.csv', classes: Array.from({ length: classes }, (_, c) => `c${c}`) },
    config: { hidden: [64, 32], quiet: undefined, standardize: true },
    arms: [
      {
        name: 'alternate',
        versusFirst: null,
        folds: [0, 1].map((fold) => ({
          fold,
          logLoss: Number.NaN,
          confusion,
          rows: [[1, 2.5, -3e-7], [], [true, null]],
          report: Array.from({ length: classes }, (_, c) => ({ label: `c${c}`, precision: 0.5, support: 7 })),
          history: [{ epoch: 0, loss: 0.25, mask: [true, false], weightNorms: { w0: 1.5 } }],
          empty: {},
          skipped: () => 1,
        })),
      },
    ],
  };

  it('parses to the value JSON.stringify gives, each array of numbers on one line, the rest indented', () => {
    const text = jsonText(result);
    const old = JSON.stringify(result, null, 1);
    expect(JSON.parse(text)).toEqual(JSON.parse(old));
    expect(text.replace(/\s/g, '')).toBe(old.replace(/\s/g, ''));
    const lines = text.split('\n');
    // The confusion matrix is one line, its 400 counts; a matrix as rows takes one line a row.
    expect(lines.filter((l) => l.startsWith('     "confusion": ['))).toEqual([`     "confusion": ${JSON.stringify(confusion)},`, `     "confusion": ${JSON.stringify(confusion)},`]);
    expect(lines).toContain('     "rows": [');
    expect(lines).toContain('      [1,2.5,-3e-7],');
    expect(lines).toContain('      [],');
    expect(lines).toContain('      [true,null]');
    expect(lines).toContain('       "mask": [true,false],');
    // Objects stay one field a line, indented by one space a level.
    expect(lines.slice(0, 4)).toEqual(['{', ' "tool": "altreg",', ' "data": {', '  "name": "c20.csv",']);
    expect(lines).toContain('     "logLoss": null,');
    expect(lines).toContain('     "empty": {}');
    expect(text.length).toBeLessThan(old.length);
    expect(lines.length).toBeLessThan(old.split('\n').length / 3);
    // A matrix alone: a count a line cost 4 times the bytes (9 more a count at this depth).
    const matrix = { arms: [{ folds: [{ confusion }] }] };
    expect(jsonText(matrix).length * 4).toBeLessThan(JSON.stringify(matrix, null, 1).length);
  });
});
