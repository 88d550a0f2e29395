// replaceDir, the whole-folder swap behind --save: a failure at any step leaves the previous
// folder as it was and no temporary folder beside it.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { replaceDir } from './output.js';

// Renaming the new (temporary) folder to this path fails as a rename across devices would: a
// step of the swap that planSaveDir cannot rule out beforehand.
const failing = vi.hoisted(() => ({ renameTo: '' }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const renameSync: typeof fs.renameSync = (from, to) => {
    if (String(to) === failing.renameTo && String(from).includes('.tmp-')) throw Object.assign(new Error(`EXDEV: cross-device link not permitted, rename '${from}' -> '${to}'`), { code: 'EXDEV' });
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
  it('puts the new folder in place of the old one, whose files are gone, and leaves nothing beside it', async () => {
    const dir = folder('replaced');
    writeFileSync(join(dir, 'stale'), 'x');
    await replaceDir('--save', dir, write('new\n'));
    expect(readdirSync(dir).sort()).toEqual(['altreg-run.json', 'fold-0']);
    expect(readFileSync(join(dir, 'fold-0', 'manifest.json'), 'utf8')).toBe('new\n');
    expect(readdirSync(join(temp, 'replaced'))).toEqual(['ck']);
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
    expect(readFileSync(join(dir, 'fold-0', 'manifest.json'), 'utf8')).toBe('old\n');
    expect(readdirSync(join(temp, 'failed-write'))).toEqual(['ck']);
  });

  it('a failure to rename the new folder in puts the old one back', async () => {
    const dir = folder('failed-rename');
    failing.renameTo = dir;
    await expect(replaceDir('--save', dir, write('new\n'))).rejects.toThrow(`--save: cannot write ${dir} (EXDEV)`);
    expect(readFileSync(join(dir, 'fold-0', 'manifest.json'), 'utf8')).toBe('old\n');
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
