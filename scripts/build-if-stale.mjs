// Runs `npm run build` unless dist/ is newer than every file it is built from, so that a
// repeated `npm run demo` starts at once. Inputs: src/, shaders/, package.json and the build
// configs. A fresh clone has no dist/ and always builds.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const outputs = ['dist/cli.js', 'dist/index.js', 'dist/types/index.d.ts'].map((f) => join(root, f));
const inputs = ['src', 'shaders', 'package.json', 'package-lock.json', 'vite.lib.config.ts', 'tsconfig.json', 'tsconfig.build.json'].map((f) => join(root, f));

function newest(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newest(join(path, name))));
}

const built = outputs.every(existsSync) ? Math.min(...outputs.map((f) => statSync(f).mtimeMs)) : -Infinity;
if (built >= Math.max(...inputs.filter(existsSync).map(newest))) {
  process.stdout.write('dist/ is up to date\n');
} else {
  const r = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
