// The published declarations compile for a TypeScript user: a consumer that imports 'altreg'
// with skipLibCheck off and no ambient types of its own gets no diagnostics. The WebGPU types
// (GPUBuffer, GPUDevice, ...) reach it through the reference at the top of src/index.ts, which
// tsc keeps in dist/types/index.d.ts, and through @webgpu/types being a dependency.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const consumerDir = mkdtempSync(join(tmpdir(), 'altreg-types-'));
afterAll(() => rmSync(consumerDir, { recursive: true, force: true }));
beforeAll(() => {
  if (!existsSync(join(root, 'dist/types/index.d.ts'))) spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore' });
}, 120_000);

const CONSUMER = `
import { loadDataset, requestGpu, train, type Gpu, type TrainOptions } from 'altreg';

const iris = await loadDataset('iris');
const options: TrainOptions = { data: iris, model: { hidden: [10], activation: 'relu' }, epochs: 1 };
const run = await train(options);
const gpu: Gpu = await requestGpu();
const device: GPUDevice = gpu.device;
console.log(run.history.length, device.limits.maxBufferSize);
`;

describe('published types', () => {
  it('@webgpu/types is a dependency, as the declarations need it', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(pkg.dependencies['@webgpu/types']).toBeDefined();
    expect(pkg.devDependencies['@webgpu/types']).toBeUndefined();
  });

  it('dist/types compiles in a consumer with skipLibCheck off and no types of its own', () => {
    // The consumer finds the package as an installed dependency would be found.
    mkdirSync(join(consumerDir, 'node_modules'));
    symlinkSync(root, join(consumerDir, 'node_modules', 'altreg'), 'dir');
    const file = join(consumerDir, 'consumer.ts');
    writeFileSync(file, CONSUMER);
    const program = ts.createProgram([file], {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
      types: [],
      strict: true,
      skipLibCheck: false,
      noEmit: true,
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(diagnostics).toEqual([]);
    expect(program.getSourceFiles().some((f) => f.fileName.endsWith('@webgpu/types/dist/index.d.ts'))).toBe(true);
  });
});
