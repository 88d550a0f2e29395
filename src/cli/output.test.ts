// replaceDir, behind --save: the new entries are written into a working folder inside the folder
// and then moved into place; a failure at any step leaves the previous entries as they were, and
// the folder itself (its mode, a mount, the current directory) stays.
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { replaceDir } from './output.js';

// Moving a new entry from the working folder to this path fails (a step of the swap that
// planSaveDir cannot rule out beforehand).
const failing = vi.hoisted(() => ({ renameTo: '' }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const renameSync: typeof fs.renameSync = (from, to) => {
    if (String(to) === failing.renameTo && String(from).includes('.altreg-new-')) throw Object.assign(new Error(`EIO: i/o error, rename '${from}' -> '${to}'`), { code: 'EIO' });
    fs.renameSync(from, to);
  };
  return { ...fs, renameSync, default: { ...fs, renameSync } };
});

const temp = mkdtempSync(join(tmpdir(), 'altreg-output-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));
afterEach(() => (failing.renameTo = ''));

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
