// The README's examples run as written: the library example (importing 'altreg', which resolves
// to the built package) and every CLI line, each in a scratch folder.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = (lang: string) => [...readme.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
const scratch = mkdtempSync(join(tmpdir(), 'altreg-readme-'));
const env = { ...process.env, EGL_PLATFORM: 'surfaceless' };
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
beforeAll(() => {
  if (!existsSync(join(root, 'dist/index.js'))) spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore' });
}, 120_000);

describe('README', () => {
  it('the library example runs and trains', () => {
    const [example] = blocks('js');
    expect(example).toContain("from 'altreg'");
    // A module inside the package resolves 'altreg' to the package itself (package.json exports).
    const file = join(root, `.readme-example-${process.pid}.mjs`);
    writeFileSync(file, example);
    try {
      const r = spawnSync(process.execPath, [file], { cwd: root, encoding: 'utf8', env, timeout: 120_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^9 \d\.\d{4} \[ (true|false), (true|false) \]/m);
      expect(r.stdout).toMatch(/^(gpu|cpu) \{/m);
      const accuracy = Number(/training accuracy ([\d.]+)/.exec(r.stdout)![1]);
      expect(accuracy).toBeGreaterThan(0.9);
      expect(r.stdout).toContain("'dense_0/kernel', 'dense_0/bias', 'dense_1/kernel', 'dense_1/bias'");
    } finally {
      rmSync(file, { force: true });
    }
  });

  it('every CLI example runs and exits 0', () => {
    const lines = blocks('sh')
      .flatMap((b) => b.split('\n'))
      .filter((l) => l.startsWith('node dist/cli.js'));
    expect(lines.length).toBeGreaterThanOrEqual(4);
    for (const line of lines) {
      const command = line.replaceAll('node dist/cli.js', `"${process.execPath}" "${join(root, 'dist/cli.js')}"`);
      const r = spawnSync('bash', ['-c', command], { cwd: scratch, encoding: 'utf8', env, timeout: 180_000 });
      expect(r.status, `${line}\n${r.stderr}`).toBe(0);
      expect(r.stdout.length).toBeGreaterThan(100);
    }
    expect(existsSync(join(scratch, 'wine.json'))).toBe(true);
    expect(existsSync(join(scratch, 'ckpt', 'manifest.json'))).toBe(true);
  }, 600_000);

  it("the demo's tables are the ones `npm run demo` prints (numbers to ±0.002: another adapter may round a last digit otherwise)", () => {
    const shown = blocks('text').find((b) => b.startsWith('schedule ') && b.includes('95% CI'));
    expect(shown).toBeDefined();
    const r = spawnSync(process.execPath, [join(root, 'dist/cli.js'), 'demo'], { cwd: scratch, encoding: 'utf8', env, timeout: 180_000 });
    expect(r.status, r.stderr).toBe(0);
    const printed = r.stdout.split('\n');
    const NUMBER = /[+-]?\d+\.\d+/g;
    for (const line of shown!.trimEnd().split('\n')) {
      if (line === '') continue;
      // The printed line with the same words and layout, its numbers each within 0.002.
      const same = printed.find((p) => p.replace(NUMBER, '#') === line.replace(NUMBER, '#'));
      expect(same, `README line not printed by the demo:\n${line}`).toBeDefined();
      const want = line.match(NUMBER) ?? [];
      const got = same!.match(NUMBER) ?? [];
      want.forEach((w, i) => expect(Math.abs(Number(w) - Number(got[i])), `${line}\n${same}`).toBeLessThanOrEqual(0.002 + 1e-12));
    }
  }, 180_000);
});
