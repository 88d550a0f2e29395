// The benchmark page in headless Chromium (SwiftShader's WebGPU): matmul GFLOP/s, and the
// Iris-shaped training epoch of altreg against TF.js (webgpu on the page's device, webgl, cpu).
import { expect, test } from '@playwright/test';

test('the benchmark page times matmul for sizes 64..512', async ({ page }) => {
  await page.goto('/bench.html?parts=kernels');
  await page.click('#start');
  const handle = await page.waitForFunction(() => window.__bench?.done && window.__bench, undefined, { timeout: 150_000 });
  const bench = (await handle.jsonValue()) as NonNullable<Window['__bench']>;
  expect(bench.error, 'benchmark error').toBeUndefined();
  expect(bench.adapter?.backend).toBe('browser');
  expect(bench.rows.map((r) => r.m)).toEqual([64, 128, 256, 384, 512]);
  for (const r of bench.rows) {
    expect(Number.isFinite(r.gflops) && r.gflops > 0, `${r.name}: ${r.gflops} GFLOP/s`).toBe(true);
    expect(Number.isFinite(r.seconds) && r.seconds > 0, `${r.name}: ${r.seconds} s`).toBe(true);
    // SwiftShader has timestamp-query: every size is timed by the pass's timestamps too, and the
    // pass cannot take longer than the wall clock around its submission.
    expect(r.gpuSeconds, `${r.name}: GPU timestamps`).toBeDefined();
    expect(r.gpuSeconds! > 0 && r.gpuSeconds! <= r.seconds * 1.01, `${r.name}: ${r.gpuSeconds} s by timestamps, ${r.seconds} s wall`).toBe(true);
    expect(r.gpuGflops).toBeCloseTo((2 * r.m * r.n * r.k) / r.gpuSeconds! / 1e9, 6);
  }
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'done');
  const cells = await page.locator('#bench-rows td.gflops').allTextContents();
  expect(cells).toHaveLength(5);
  for (const text of cells) expect(Number(text)).toBeGreaterThan(0);
  const timed = await page.locator('#bench-rows td.gpu-gflops').allTextContents();
  expect(timed.map(Number)).toEqual(bench.rows.map((r) => Number(r.gpuGflops!.toFixed(2))));
  await expect(page.locator('#bench-chart canvas')).toHaveCount(1);
  for (const r of bench.rows) console.log(`${r.name}: ${r.gflops.toFixed(2)} GFLOP/s wall clock, ${r.gpuGflops!.toFixed(2)} by GPU timestamps`);
});

test('the benchmark page times an Iris-shaped training epoch against TF.js', async ({ page }) => {
  await page.goto('/bench.html?parts=training');
  await page.click('#start');
  const handle = await page.waitForFunction(() => window.__benchTraining?.done && window.__benchTraining, undefined, { timeout: 150_000 });
  const state = (await handle.jsonValue()) as NonNullable<Window['__benchTraining']>;
  expect(state.error, 'training benchmark error').toBeUndefined();
  const [row] = state.rows;
  const timed = row.results.filter((m) => !m.error && Number.isFinite(m.secondsPerEpoch) && m.secondsPerEpoch > 0);
  const names = timed.map((m) => m.name);
  expect(names, `timed: ${names.join(', ')}; notes: ${state.notes.join(' | ')}`).toContain('altreg GPU');
  expect(names.filter((n) => n.startsWith('TF.js')).length, state.table).toBeGreaterThanOrEqual(1);
  for (const m of timed) expect(m.lossDecreased, `${m.name} loss ${m.firstLoss} → ${m.finalLoss}`).toBe(true);
  await expect(page.locator('#training-status')).toHaveAttribute('data-state', 'done');
  const ms = await page.locator('#training-rows tr[data-contender="altreg GPU"] td.ms').textContent();
  expect(Number(ms)).toBeGreaterThan(0);
  expect(state.table).toContain('altreg GPU speed-up vs TF.js');
  console.log(state.table);
});
