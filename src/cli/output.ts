// Where the CLI writes: --json files, --save folders, the tuning cache and stdout. Every target is
// checked before any training, so a bad path costs nothing; the writes themselves happen after
// training, each file to a temporary name in its folder and then renamed into place, and a --save
// folder's entries written into a working folder inside it and then moved into place.

import * as fs from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { errorCode, writeFileAtomic } from '../runtime/checkpoint.js';
import { UsageError } from './errors.js';

function statOrNull(path: string, follow = true): fs.Stats | null {
  try {
    return follow ? fs.statSync(path) : fs.lstatSync(path);
  } catch (error) {
    if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return null;
    throw error;
  }
}

/**
 * File systems that show the kernel's state rather than hold files (statfs types from
 * linux/magic.h): root may pass their permission checks, yet nothing can be saved there, and
 * Node's recursive mkdir spins forever under /proc.
 */
const KERNEL_FILE_SYSTEMS: Record<number, string> = {
  0x9fa0: 'proc',
  0x62656572: 'sysfs',
  0x27e0eb: 'cgroup',
  0x63677270: 'cgroup2',
  0x64626720: 'debugfs',
  0x74726163: 'tracefs',
  0x73636673: 'securityfs',
};

function requireFileSystemOfFiles(flag: string, dir: string): void {
  let kind: string | undefined;
  try {
    kind = KERNEL_FILE_SYSTEMS[fs.statfsSync(dir).type];
  } catch {
    // Where statfs is missing (not Linux), the writes themselves say what is wrong.
  }
  if (kind) throw new UsageError(`${flag}: ${dir} is on the kernel's ${kind} file system, which holds no files of ours; choose a folder on a disk`);
}

/**
 * `path` may be renamed over or removed: in a sticky folder (mode 1777, like /tmp) only the
 * owner of an entry or of the folder may, whatever the entry's own mode says.
 */
function requireReplaceable(flag: string, path: string): void {
  const st = statOrNull(path, false);
  const uid = process.geteuid?.();
  if (!st || uid === undefined || uid === 0 || st.uid === uid) return;
  const parent = dirname(resolve(path));
  const folder = fs.statSync(parent);
  // 0o1000: the sticky bit (S_ISVTX).
  if ((folder.mode & 0o1000) !== 0 && folder.uid !== uid) {
    throw new UsageError(`${flag}: cannot replace ${path}: it belongs to another user and ${parent} is sticky (only they may replace it); choose another name`);
  }
}

/**
 * The folder that holds `path` or would once its missing parents exist: it must be a writable
 * folder on a file system that holds files.
 */
function requireWritableAncestor(flag: string, path: string): void {
  let dir = dirname(resolve(path));
  for (;;) {
    const st = statOrNull(dir);
    if (st) {
      if (!st.isDirectory()) throw new UsageError(`${flag}: ${dir} is a file, not a folder`);
      requireFileSystemOfFiles(flag, dir);
      try {
        fs.accessSync(dir, fs.constants.W_OK);
      } catch (error) {
        throw new UsageError(`${flag}: cannot write in ${dir} (${errorCode(error)})`);
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
      if (errorCode(error) !== 'EEXIST') throw error;
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

/** `-`, or a name of this process's stdout (`/dev/stdout`, `/dev/fd/1`, `/proc/self/fd/1`). */
export function isStdout(file: string): boolean {
  return file === '-' || (file.trim() !== '' && /^\/(dev\/stdout|dev\/fd\/1|proc\/self\/fd\/1)$/.test(resolve(file)));
}

/**
 * Checks that `--json FILE` can be written and returns the writer to call after training, which
 * fails with an error naming the flag. `-` is stdout. A regular file (or a new one) is replaced
 * atomically; through a symbolic link, the file it points to is. A device, pipe or a process's
 * own descriptor (`/dev/stdout`, `/dev/fd/3`, a FIFO) is appended to directly: it cannot be
 * renamed over, replacing it is never what was meant, and appending keeps what the process
 * already wrote there (`--json /dev/stdout > out.txt`).
 */
export function planOutputFile(flag: string, file: string, keep: Protected = {}): (data: string) => Promise<void> {
  // This process's own stdout goes through its stream: it may be a socket, which cannot be opened
  // by name.
  const toStdout = async (data: string) => {
    try {
      await writeStdout(data);
    } catch (error) {
      throw new Error(`${flag}: ${(error as Error).message}`);
    }
  };
  if (isStdout(file)) return toStdout;
  if (file.trim() === '') throw new UsageError(`${flag} needs a file name`);
  if (/[/\\]$/.test(file)) throw new UsageError(`${flag}: ${file} ends with a slash; give a file name`);
  const failing = (write: (data: string) => Promise<void>) => async (data: string) => {
    try {
      await write(data);
    } catch (error) {
      throw new Error(`${flag}: cannot write ${file} (${errorCode(error)})`);
    }
  };
  const append = failing(async (data: string) => fs.writeFileSync(file, data, { flag: 'a' }));
  if (/^\/(dev|proc|sys)\//.test(resolve(file))) {
    const st = statOrNull(file);
    if (st?.isDirectory()) throw new UsageError(`${flag}: ${file} is a folder; give a file name`);
    // A new file there would be made by the append: /proc and /sys make none.
    if (!st) requireWritableAncestor(flag, file);
    return append;
  }
  let target = file;
  const link = statOrNull(file, false);
  if (link?.isSymbolicLink()) {
    try {
      target = fs.realpathSync(file);
    } catch (error) {
      if (errorCode(error) === 'ELOOP') throw new UsageError(`${flag}: ${file} is a loop of symbolic links`);
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
  requireReplaceable(flag, target);
  return failing(async (data) => {
    ensureDir(dirname(target));
    await writeFileAtomic(target, data);
  });
}

/**
 * Working folders of replaceDir inside a --save folder, named with the saving process's pid and a
 * time: `.altreg-new-…` holds what a save writes, `.altreg-old-…` the entries it replaced.
 */
const WORK_FOLDER = /^\.altreg-(new|old)-(\d+)-(\d+)$/;

/** In a save's `.altreg-old-…` folder: the names the save moves in (JSON), for recoverSaveDir. */
const MOVING_IN = '.altreg-moving-in.json';

/** The names a save cut short was moving in, from its MOVING_IN list ([] where there is none). */
function movingIn(old: string): string[] {
  try {
    const names: unknown = JSON.parse(fs.readFileSync(join(old, MOVING_IN), 'utf8'));
    return Array.isArray(names) ? names.filter((name): name is string => typeof name === 'string' && name !== RUN_FILE && !name.includes('/') && !WORK_FOLDER.test(name)) : [];
  } catch {
    return [];
  }
}

/** The run record a --save folder holds beside its checkpoints (see commands.ts's RunRecord). */
export const RUN_FILE = 'altreg-run.json';

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === 'EPERM';
  }
}

/**
 * Finishes or undoes what a save into `dir` that was cut short (killed, power lost) left: its
 * working folders. The run record is moved in last, so a working folder that still holds the new
 * run record means the swap did not complete: the entries it had moved aside go back, those it
 * had moved in where there was nothing to replace (a first save's, listed in its MOVING_IN) are
 * removed, and the folder is as before that save; anything else it holds is left. Otherwise the swap had completed and only the working folders
 * are removed. Folders of a save still running (its process alive) are left alone. Returns what
 * it did, for a note (empty when nothing was left).
 */
export function recoverSaveDir(dir: string): string {
  const st = statOrNull(dir);
  if (!st?.isDirectory()) return '';
  const target = fs.realpathSync(dir);
  const stamps = new Set<string>();
  for (const name of fs.readdirSync(target)) {
    const m = WORK_FOLDER.exec(name);
    if (m && !alive(Number(m[2]))) stamps.add(`${m[2]}-${m[3]}`);
  }
  const done: string[] = [];
  for (const stamp of stamps) {
    const fresh = join(target, `.altreg-new-${stamp}`);
    const old = join(target, `.altreg-old-${stamp}`);
    if (statOrNull(old) && statOrNull(join(fresh, RUN_FILE))) {
      const aside = fs.readdirSync(old).filter((name) => name !== MOVING_IN);
      // Entries the save had moved in with no predecessor (every one, in a first save): listed in
      // MOVING_IN, neither aside nor still waiting in the working folder. Nothing else is touched.
      const waiting = new Set(fs.readdirSync(fresh));
      const movedIn = movingIn(old).filter((name) => !waiting.has(name) && !aside.includes(name) && statOrNull(join(target, name), false));
      for (const name of movedIn) fs.rmSync(join(target, name), { recursive: true, force: true });
      for (const name of aside) {
        fs.rmSync(join(target, name), { recursive: true, force: true });
        fs.renameSync(join(old, name), join(target, name));
      }
      if (aside.length > 0) done.push(`put back the checkpoints a save cut short had moved aside (${basename(old)})`);
      if (movedIn.length > 0) done.push(`removed what a save cut short had moved in without replacing anything (${movedIn.join(', ')})`);
      if (aside.length === 0 && movedIn.length === 0) done.push(`removed the working folders of a save cut short (${stamp})`);
    } else if (statOrNull(old) || statOrNull(fresh)) {
      done.push(`removed the working folders of a save cut short (${stamp})`);
    }
    fs.rmSync(old, { recursive: true, force: true });
    fs.rmSync(fresh, { recursive: true, force: true });
  }
  return done.join('; ');
}

/**
 * Checks that `--save DIR` can take this run's checkpoints: DIR is new, empty, or holds only
 * entries this run writes itself (e.g. the folder it resumes from), so a later --resume never
 * mixes two runs' layouts; and that replaceDir can write in it and remove the entries it replaces
 * (through a symbolic link, the folder it points to is used). Working folders of a save cut short
 * do not count (recoverSaveDir deals with them first).
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
  requireFileSystemOfFiles('--save', dir);
  const mine = new Set(entries);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (error) {
    throw new UsageError(`--save: cannot read ${dir} (${errorCode(error)})`);
  }
  const others = names.filter((name) => !mine.has(name) && !WORK_FOLDER.test(name));
  if (others.length > 0) {
    const shown = others.slice(0, 3).join(', ') + (others.length > 3 ? `, … (${others.length} in all)` : '');
    throw new UsageError(`--save: ${dir} already holds ${shown}, which this run would not write; choose a new or empty folder (or the --resume folder of the same experiment)`);
  }
  // The entries it holds are replaced: the folder and every folder in it must let entries go, and
  // in a sticky folder each entry must be the user's.
  const removable = (folder: string): void => {
    const leftover = WORK_FOLDER.test(basename(folder)) ? `, a working folder another user's save left in ${dir},` : '';
    try {
      fs.accessSync(folder, fs.constants.W_OK | fs.constants.X_OK);
    } catch (error) {
      throw new UsageError(`--save: cannot write in ${folder}${leftover} (${errorCode(error)}), so ${dir}'s checkpoints cannot be replaced; make it writable or choose a new folder`);
    }
    let inside: fs.Dirent[];
    try {
      inside = fs.readdirSync(folder, { withFileTypes: true });
    } catch (error) {
      throw new UsageError(`--save: cannot read ${folder}${leftover} (${errorCode(error)}), so ${dir}'s checkpoints cannot be replaced; make it readable or choose a new folder`);
    }
    for (const entry of inside) {
      requireReplaceable('--save', join(folder, entry.name));
      if (entry.isDirectory()) removable(join(folder, entry.name));
    }
  };
  removable(dir);
}

/**
 * Replaces the checkpoints folder `dir` holds (created if missing; through a symbolic link, the
 * folder it points to) with what `write` puts into a working folder inside it. Once `write` is
 * done, each entry it made replaces the one of that name: the old one is moved into a second
 * working folder and the new one moved in, the run record last (a file renamed over the old one:
 * the moment the save takes effect). A failure while writing or swapping leaves the previous
 * entries as they were; a save cut short is finished or undone by recoverSaveDir. The folder
 * itself stays, with its mode, owner and mount (a container's volume, the current directory).
 * Errors name `flag`.
 */
export async function replaceDir(flag: string, dir: string, write: (temp: string) => Promise<void>): Promise<void> {
  const stamp = `${process.pid}-${Date.now()}`;
  let target: string;
  try {
    ensureDir(dir);
    recoverSaveDir(dir);
    target = fs.realpathSync(dir);
  } catch (error) {
    throw new Error(`${flag}: cannot write ${dir} (${errorCode(error)})`);
  }
  const fresh = join(target, `.altreg-new-${stamp}`);
  const old = join(target, `.altreg-old-${stamp}`);
  const aside: string[] = [];
  const moved: string[] = [];
  try {
    fs.mkdirSync(fresh);
    await write(fresh);
    // Folders, then files, then the run record.
    const rank = (e: fs.Dirent) => (e.name === RUN_FILE ? 2 : e.isDirectory() ? 0 : 1);
    const made = fs.readdirSync(fresh, { withFileTypes: true }).sort((a, b) => rank(a) - rank(b));
    fs.mkdirSync(old);
    // What this save moves in, for recoverSaveDir should it be cut short: it removes those
    // names only, never what else the folder may hold by then.
    fs.writeFileSync(join(old, MOVING_IN), JSON.stringify(made.map((e) => e.name).filter((name) => name !== RUN_FILE)));
    for (const entry of made) {
      const here = join(target, entry.name);
      if (entry.name !== RUN_FILE && statOrNull(here, false)) {
        try {
          fs.renameSync(here, join(old, entry.name));
          aside.push(entry.name);
        } catch (error) {
          // overlayfs cannot move a folder of a lower layer: removed in place, it cannot come back.
          if (errorCode(error) !== 'EXDEV') throw error;
          fs.rmSync(here, { recursive: true, force: true });
        }
      }
      fs.renameSync(join(fresh, entry.name), here);
      moved.push(entry.name);
    }
  } catch (error) {
    // Undo: the new entries out, the old ones back.
    try {
      for (const name of moved) if (name !== RUN_FILE) fs.rmSync(join(target, name), { recursive: true, force: true });
      for (const name of aside) fs.renameSync(join(old, name), join(target, name));
    } catch {
      // What could not be put back stays in the working folder, for recoverSaveDir.
    }
    fs.rmSync(fresh, { recursive: true, force: true });
    if (aside.every((name) => statOrNull(join(target, name), false))) fs.rmSync(old, { recursive: true, force: true });
    throw new Error(`${flag}: cannot write ${dir} (${errorCode(error)})`);
  }
  try {
    fs.rmSync(fresh, { recursive: true, force: true });
    fs.rmSync(old, { recursive: true, force: true });
  } catch (error) {
    throw new Error(`${flag}: the new checkpoints are in ${dir}, but the previous ones, moved to ${old}, cannot be removed (${errorCode(error)})`);
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
    process.stdout.write(text, (error) => (error ? fail(new Error(`cannot write to stdout (${errorCode(error)})`)) : done()));
  });
}
