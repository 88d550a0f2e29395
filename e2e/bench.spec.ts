// The kernel benchmark page in headless Chromium: matmul GFLOP/s on SwiftShader's WebGPU.
import { expect, test } from '@playwright/test';

test('the benchmark page times matmul for sizes 64..512', async ({ page }) => {
  await page.goto('/bench.html');
  const handle = await page.waitForFunction(() => window.__bench?.done && window.__bench, undefined, { timeout: 150_000 });
  const bench = (await handle.jsonValue()) as NonNullable<Window['__bench']>;
  expect(bench.error, 'benchmark error').toBeUndefined();
  expect(bench.adapter?.backend).toBe('browser');
  expect(bench.rows.map((r) => r.m)).toEqual([64, 128, 256, 384, 512]);
  for (const r of bench.rows) {
    expect(Number.isFinite(r.gflops) && r.gflops > 0, `${r.name}: ${r.gflops} GFLOP/s`).toBe(true);
    expect(Number.isFinite(r.seconds) && r.seconds > 0, `${r.name}: ${r.seconds} s`).toBe(true);
  }
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'done');
  const cells = await page.locator('#bench-rows td.gflops').allTextContents();
  expect(cells).toHaveLength(5);
  for (const text of cells) expect(Number(text)).toBeGreaterThan(0);
  await expect(page.locator('#bench-chart canvas')).toHaveCount(1);
});
