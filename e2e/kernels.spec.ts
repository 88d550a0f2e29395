// The kernel self-check in headless Chromium: every kernel against its CPU twin on SwiftShader.
import { expect, test } from '@playwright/test';

test('every kernel matches its CPU twin in the browser', async ({ page }) => {
  await page.goto('/selfcheck.html');
  const report = await page.waitForFunction(() => window.__selfcheck, undefined, { timeout: 150_000 });
  const { adapter, results, error } = (await report.jsonValue()) as {
    adapter: { architecture: string; backend: string; features: string[] } | null;
    results: { name: string; error: number; limit: number; ok: boolean }[];
    error?: string;
  };
  expect(error, 'self-check error').toBeUndefined();
  expect(adapter?.backend).toBe('browser');
  // SwiftShader has subgroups: the softmax-xent kernel's subgroup layout runs here (Node's
  // llvmpipe through OpenGL ES has none).
  expect(adapter?.features).toContain('subgroups');
  expect(results.filter((r) => r.name.includes('subgroups layout')).length).toBe(4);
  expect(results.length).toBeGreaterThanOrEqual(18);
  for (const r of results) expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
  await expect(page.locator('#summary')).toHaveText(`${results.length}/${results.length} checks passed`);
});
