// Where the CLI writes: --json files, --save folders, the tuning cache and stdout. Every target is
// checked before any training, so a bad path costs nothing; the writes themselves happen after
// training, each file to a temporary name in its folder and then renamed into place.

import * as fs from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { writeFileAtomic } from '../runtime/checkpoint.js';
import { UsageError } from './errors.js';

function code(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}

function statOrNull(path: string, follow = true): fs.Stats | null {
  try {
    return follow ? fs.statSync(path) : fs.lstatSync(path);
  } catch (error) {
    if (code(error) === 'ENOENT' || code(error) === 'ENOTDIR') return null;
    throw error;
  }
}

/** The folder that holds `path` or would once its missing parents exist: it must be writable. */
function requireWritableAncestor(flag: string, path: string): void {
  let dir = dirname(resolve(path));
  for (;;) {
    const st = statOrNull(dir);
    if (st) {
      if (!st.isDirectory()) throw new UsageError(`${flag}: ${dir} is a file, not a folder`);
      try {
        fs.accessSync(dir, fs.constants.W_OK);
      } catch (error) {
        throw new UsageError(`${flag}: cannot write in ${dir} (${code(error)})`);
      }
      return;
    }
    const up = dirname(dir);
    if (up === dir) return;
    dir = up;
  }
}

/**
 * Creates `dir` and its missing parents one level at a time (Node's recursive mkdir can spin
 * forever under /proc).
 */
export function ensureDir(dir: string): void {
  const missing: string[] = [];
  for (let d = resolve(dir); !statOrNull(d); d = dirname(d)) {
    if (dirname(d) === d) break;
    missing.push(d);
  }
  for (const d of missing.reverse()) {
    try {
      fs.mkdirSync(d);
    } catch (error) {
      if (code(error) !== 'EEXIST') throw error;
    }
  }
}

/** Files an output must not replace: the run's input, and a folder that holds only checkpoints. */
export interface Protected {
  /** Input files, by the flag that names them (`--data`). */
  files?: Record<string, string>;
  /** Folders, by the flag that names them (`--save`). */
  folders?: Record<string, string>;
}

function realOrResolved(path: string): string {
  try {
    return fs.realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/**
 * Checks that `--json FILE` can be written and returns the writer to call after training. A
 * regular file (or a new one) is replaced atomically; through a symbolic link, the file it
 * points to is. A device, pipe or a process's own descriptor (`/dev/stdout`, `/dev/fd/3`, a
 * FIFO) is appended to directly: it cannot be renamed over, replacing it is never what was meant,
 * and appending keeps what the process already wrote there (`--json /dev/stdout > out.txt`).
 */
export function planOutputFile(flag: string, file: string, keep: Protected = {}): (data: string) => Promise<void> {
  if (file.trim() === '') throw new UsageError(`${flag} needs a file name`);
  if (/[/\\]$/.test(file)) throw new UsageError(`${flag}: ${file} ends with a slash; give a file name`);
  // This process's own stdout goes through its stream: it may be a socket, which cannot be opened
  // by name.
  if (/^\/(dev\/stdout|dev\/fd\/1|proc\/self\/fd\/1)$/.test(resolve(file))) return (data) => writeStdout(data);
  const append = async (data: string) => fs.writeFileSync(file, data, { flag: 'a' });
  if (/^\/(dev|proc)\//.test(resolve(file))) {
    if (statOrNull(file)?.isDirectory()) throw new UsageError(`${flag}: ${file} is a folder; give a file name`);
    return append;
  }
  let target = file;
  const link = statOrNull(file, false);
  if (link?.isSymbolicLink()) {
    try {
      target = fs.realpathSync(file);
    } catch (error) {
      if (code(error) === 'ELOOP') throw new UsageError(`${flag}: ${file} is a loop of symbolic links`);
      // A dangling link: write the file it names.
      target = resolve(dirname(file), fs.readlinkSync(file));
    }
  }
  const st = statOrNull(target);
  if (st?.isDirectory()) throw new UsageError(`${flag}: ${file} is a folder; give a file name`);
  if (st && !st.isFile()) return append;
  const real = realOrResolved(target);
  for (const [other, path] of Object.entries(keep.files ?? {})) {
    if (real === realOrResolved(path)) throw new UsageError(`${flag}: ${file} is the ${other} file; give another name`);
  }
  for (const [other, dir] of Object.entries(keep.folders ?? {})) {
    const folder = realOrResolved(dir);
    const within = (path: string, parent: string) => path === parent || path.startsWith(parent.endsWith(sep) ? parent : parent + sep);
    if (within(real, folder) || within(folder, real)) {
      throw new UsageError(`${flag}: ${file} is, or is inside or above, the ${other} folder ${dir}, which holds only checkpoints; give a file outside it`);
    }
  }
  requireWritableAncestor(flag, target);
  return async (data) => {
    ensureDir(dirname(target));
    await writeFileAtomic(target, data);
  };
}

/**
 * Checks that `--save DIR` can take this run's checkpoints: DIR is new, empty, or holds only
 * entries this run writes itself (e.g. the folder it resumes from), so a later --resume never
 * mixes two runs' layouts.
 */
export function planSaveDir(dir: string, entries: string[]): void {
  if (dir.trim() === '') throw new UsageError('--save needs a folder name');
  if (statOrNull(dir, false)?.isSymbolicLink() && !statOrNull(dir)) throw new UsageError(`--save: ${dir} is a symbolic link to a folder that does not exist`);
  const st = statOrNull(dir);
  if (st && !st.isDirectory()) throw new UsageError(`--save: ${dir} exists and is not a folder`);
  if (!st) {
    requireWritableAncestor('--save', join(dir, 'x'));
    return;
  }
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (error) {
    throw new UsageError(`--save: cannot write in ${dir} (${code(error)})`);
  }
  const mine = new Set(entries);
  const others = fs.readdirSync(dir).filter((name) => !mine.has(name));
  if (others.length > 0) {
    const shown = others.slice(0, 3).join(', ') + (others.length > 3 ? `, … (${others.length} in all)` : '');
    throw new UsageError(`--save: ${dir} already holds ${shown}, which this run would not write; choose a new or empty folder (or the --resume folder of the same experiment)`);
  }
}

let stdoutWatched = false;

/** Writes to stdout and waits for it, so a failed write (a full disk, a closed pipe) is an error. */
export function writeStdout(text: string): Promise<void> {
  // The stream also emits the failure as an 'error' event, which would otherwise crash the
  // process with a stack trace; the write's callback below reports it.
  if (!stdoutWatched) process.stdout.on('error', () => undefined);
  stdoutWatched = true;
  return new Promise((done, fail) => {
    process.stdout.write(text, (error) => (error ? fail(new Error(`cannot write to stdout (${code(error)})`)) : done()));
  });
}
