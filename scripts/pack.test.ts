// The package as npm ships it: `npm pack`'s tarball, unpacked into a project outside this
// repository, imports as 'altreg', trains, and its CLI runs. Its dependencies are linked from
// this repository's node_modules (no network); nothing else of the repository is reachable.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string;
  bin: Record<string, string>;
  dependencies: Record<string, string>;
};
const scratch = mkdtempSync(join(tmpdir(), 'altreg-pack-'));
const project = join(scratch, 'project');
const installed = join(project, 'node_modules', pkg.name);
const env = { ...process.env, EGL_PLATFORM: 'surfaceless' };
let files: string[] = [];

afterAll(() => rmSync(scratch, { recursive: true, force: true }));
beforeAll(() => {
  if (!existsSync(join(root, 'dist/index.js'))) spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore' });
  const pack = spawnSync('npm', ['pack', '--json', '--pack-destination', scratch], { cwd: root, encoding: 'utf8' });
  if (pack.status !== 0) throw new Error(`npm pack failed: ${pack.stderr}`);
  const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  files = info.files.map((f) => f.path);
  mkdirSync(installed, { recursive: true });
  const untar = spawnSync('tar', ['-xzf', join(scratch, info.filename), '-C', installed, '--strip-components=1']);
  if (untar.status !== 0) throw new Error(`tar failed: ${untar.stderr}`);
  for (const dep of Object.keys(pkg.dependencies)) {
    const link = join(project, 'node_modules', dep);
    mkdirSync(join(link, '..'), { recursive: true });
    symlinkSync(join(root, 'node_modules', dep), link, 'dir');
  }
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-project', private: true, type: 'module' }));
}, 120_000);

describe('the packed package', () => {
  it('ships the built code, its types, the shaders, the data with its attribution, the license and the study the README links to, and no tests', () => {
    const need = ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/cli.js', 'dist/types/index.d.ts', 'shaders/matmul.wgsl', 'data/SOURCES.md', 'data/iris.csv'];
    // Every file the README links to by a relative path.
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const links = [...readme.matchAll(/\]\(([^)#:]+)(#[^)]*)?\)/g)].map((m) => m[1].replace(/^\.\//, ''));
    expect(links).toContain('study/README.md');
    for (const file of [...need, ...links]) expect(files, file).toContain(file);
    // The library's shared chunk is named for the library (stack traces point into it).
    expect(files.filter((f) => /^dist\/chunks\/altreg-[\w-]+\.js$/.test(f))).toHaveLength(1);
    for (const bin of Object.values(pkg.bin)) expect(files).toContain(bin.replace(/^\.\//, ''));
    expect(files.filter((f) => /\.test\.|^src\/|^scratch\/|^bench\/|^e2e\//.test(f))).toEqual([]);
  });

  it("imports as 'altreg' from another project and trains the README's example", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const example = /```js\n([\s\S]*?)```/.exec(readme)![1];
    writeFileSync(join(project, 'example.mjs'), example);
    const r = spawnSync(process.execPath, ['example.mjs'], { cwd: project, encoding: 'utf8', env, timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    // The package was loaded from the project, not from this repository.
    const resolved = spawnSync(process.execPath, ['--input-type=module', '-e', "console.log(import.meta.resolve('altreg'))"], { cwd: project, encoding: 'utf8' });
    expect(resolved.stdout.trim()).toBe(`file://${join(installed, 'dist/index.js')}`);
    expect(Number(/training accuracy ([\d.]+)/.exec(r.stdout)![1])).toBeGreaterThan(0.9);
  });

  it("runs its CLI (the bin) on the embedded data", () => {
    const cli = join(installed, pkg.bin.altreg);
    expect(readFileSync(cli, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
    const r = spawnSync(process.execPath, [cli, 'train', '--data', 'iris', '--epochs', '30', '--device', 'cpu'], { cwd: project, encoding: 'utf8', env, timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/iris/);
    expect(r.stdout).toMatch(/accuracy/);
  });
});
