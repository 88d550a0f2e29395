// Runs every kernel against its CPU twin on this page's WebGPU adapter and shows the results;
// the end-to-end tests read them from window.__selfcheck.
import { runSelfCheck, type CheckResult } from '../src/kernels/selfcheck.js';
import { requestGpu } from '../src/runtime/gpu.js';

declare global {
  interface Window {
    __selfcheck?: { adapter: unknown; results: CheckResult[]; error?: string };
  }
}

function cell(text: string, className = ''): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

async function main(): Promise<void> {
  const adapterLine = document.getElementById('adapter')!;
  const body = document.getElementById('results')!;
  const summary = document.getElementById('summary')!;
  try {
    const gpu = await requestGpu();
    adapterLine.textContent = `Adapter: ${gpu.name} (${gpu.adapter.architecture || 'unknown architecture'})`;
    const results = await runSelfCheck(gpu, (r) => {
      const tr = document.createElement('tr');
      tr.append(cell(r.name), cell(r.error.toExponential(2)), cell(r.limit.toExponential(0)), cell(r.ok ? 'ok' : 'FAIL', r.ok ? 'ok' : 'fail'));
      body.append(tr);
    });
    const failed = results.filter((r) => !r.ok).length;
    summary.textContent = `${results.length - failed}/${results.length} checks passed`;
    window.__selfcheck = { adapter: gpu.adapter, results };
  } catch (error) {
    summary.textContent = `Self-check failed: ${(error as Error).message}`;
    summary.className = 'fail';
    window.__selfcheck = { adapter: null, results: [], error: (error as Error).message };
  }
}

void main();
