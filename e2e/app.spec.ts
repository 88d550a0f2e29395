// The training app (web/index.html) in headless Chromium: Iris on SwiftShader's WebGPU end to
// end (curves, masks, confusion matrix, report, checkpoint, CPU verification and its verdict), a
// malformed CSV, Stop, the form's checks, a narrow window, and the CPU fallback without WebGPU.
// Every wait is on explicit page state.
import { readFile, stat } from 'node:fs/promises';
import { expect, test, type Page } from '@playwright/test';

/** Opens the app and waits until it has found its device and loaded iris. */
async function openApp(page: Page): Promise<void> {
  await page.goto('/');
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'ready');
  await expect(page.locator('#train')).toBeEnabled();
}

async function configure(page: Page, fields: Record<string, string>): Promise<void> {
  for (const [id, value] of Object.entries(fields)) {
    const tag = await page.locator(`#${id}`).evaluate((e) => e.tagName);
    if (tag === 'SELECT') await page.selectOption(`#${id}`, value);
    else await page.fill(`#${id}`, value);
  }
}

/** Pixels of a chart's canvas in a saturated colour (the series; axes and grid are grey). */
function colouredPixels(page: Page, chartId: string): Promise<number> {
  return page.locator(`#${chartId} canvas`).evaluate((canvas: HTMLCanvasElement) => {
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
      if (a > 128 && Math.max(r, g, b) - Math.min(r, g, b) > 60) n++;
    }
    return n;
  });
}

test('trains Iris on WebGPU: accuracy, charts, confusion matrix, mask grid, checkpoint, verification', async ({ page }, testInfo) => {
  await openApp(page);
  const adapter = await page.evaluate(() => window.__altreg!.adapter);
  expect(adapter?.backend, 'the page trains on navigator.gpu').toBe('browser');
  await expect(page.locator('#adapter')).toHaveAttribute('data-backend', 'browser');
  await expect(page.locator('#adapter')).toContainText('WebGPU adapter:');
  await expect(page.locator('#gpu-warning')).toBeHidden();

  const epochs = 50;
  await configure(page, {
    dataset: 'iris',
    hidden: '10',
    activation: 'relu',
    lr: '0.01',
    epochs: String(epochs),
    'batch-size': '16',
    seed: '0',
    lambda: '0.001',
    mode: 'coupled',
    convention: 'keras',
    targets: 'kernels',
    'schedule-kind': 'alternate',
    'test-fraction': '0.2',
    device: 'gpu',
  });
  await page.click('#train');
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'training');
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'done', { timeout: 150_000 });

  const s = await page.evaluate(() => window.__altreg!);
  expect(s.error).toBeNull();
  expect(s.device).toBe('gpu');
  expect(s.history).toHaveLength(epochs);
  expect(s.testRows).toBe(30); // ceil(0.2 · 150)
  expect(s.testAccuracy!).toBeGreaterThanOrEqual(0.9);
  expect(s.liveBuffers, 'GPU buffers left after the run').toBe(0);
  const shown = Number(await page.locator('#test-accuracy').getAttribute('data-value'));
  expect(shown).toBeCloseTo(s.testAccuracy!, 10);
  await expect(page.locator('#test-accuracy')).toContainText('Test accuracy');

  // The confusion matrix counts every test row once.
  const counts = await page.locator('#confusion-table td[data-count]').evaluateAll((cells) => cells.map((c) => Number(c.getAttribute('data-count'))));
  expect(counts).toHaveLength(9);
  expect(counts.reduce((a, b) => a + b, 0)).toBe(s.testRows);
  await expect(page.locator('#confusion-table thead')).toContainText('versicolor');
  await expect(page.locator('#report-text')).toContainText('weighted avg');
  await expect(page.locator('#report-table tbody tr')).toHaveCount(3 + 3);

  // Every chart has its series drawn.
  for (const id of ['chart-loss', 'chart-accuracy', 'chart-penalty', 'chart-norms', 'chart-history']) {
    expect(await colouredPixels(page, id), `${id} is drawn`).toBeGreaterThan(100);
  }

  // The mask grid: alternate over T = 2 kernels, planned and applied, cell by cell.
  expect(s.maskTensors).toEqual(['dense_0/kernel', 'dense_1/kernel']);
  const cells = await page.locator('#mask-grid [data-epoch]').evaluateAll((all) =>
    all.map((c) => ({ epoch: Number(c.getAttribute('data-epoch')), tensor: Number(c.getAttribute('data-tensor')), on: c.getAttribute('data-on'), applied: c.getAttribute('data-applied') })),
  );
  const T = 2;
  expect(cells).toHaveLength(epochs * T);
  for (const c of cells) {
    const expected = c.epoch % 2 === 0 || c.tensor !== ((c.epoch - 1) / 2) % T ? '1' : '0';
    expect(c.on, `planned mask at epoch ${c.epoch}, tensor ${c.tensor}`).toBe(expected);
    expect(c.applied, `applied mask at epoch ${c.epoch}, tensor ${c.tensor}`).toBe(expected);
  }
  s.history.forEach((r, e) => expect(r.mask).toEqual(s.maskPreview[e]));

  // The run is in the history table.
  await expect(page.locator('#history-rows tr')).toHaveCount(1);

  // Screenshot of the trained state, kept with the test's artifacts.
  const shot = testInfo.outputPath('trained-iris-webgpu.png');
  await page.screenshot({ path: shot, fullPage: true });
  expect((await stat(shot)).size).toBeGreaterThan(10_000);
  await testInfo.attach('trained-iris-webgpu', { path: shot, contentType: 'image/png' });

  // The checkpoint's manifest downloads and describes this run.
  const [manifestDownload] = await Promise.all([page.waitForEvent('download'), page.click('#download-manifest')]);
  expect(manifestDownload.suggestedFilename()).toBe('manifest.json');
  const manifest = JSON.parse(await readFile((await manifestDownload.path())!, 'utf8'));
  expect(manifest.format).toBe('altreg-checkpoint');
  expect(manifest.epoch).toBe(epochs);
  expect(manifest.config.penalty.schedule).toBe('alternate');
  const [weightsDownload] = await Promise.all([page.waitForEvent('download'), page.click('#download-weights')]);
  expect(weightsDownload.suggestedFilename()).toBe('weights.safetensors');
  const [resultsDownload] = await Promise.all([page.waitForEvent('download'), page.click('#download-results')]);
  const results = JSON.parse(await readFile((await resultsDownload.path())!, 'utf8'));
  expect(results.test.accuracy).toBe(s.testAccuracy);
  expect(results.history).toHaveLength(epochs);

  // Verify: the CPU reference trainer agrees with the GPU run within the library's bound.
  await page.click('#verify');
  await expect(page.locator('#verify-result')).toHaveAttribute('data-state', 'done', { timeout: 120_000 });
  const v = await page.evaluate(() => window.__altreg!.verification!);
  expect(v.maskDifferences).toBe(0);
  expect(v.judgedEpochs).toBe(20);
  expect(v.maxLossDiff).toBeLessThanOrEqual(1e-4);
  expect(v.maxWeightDiff).toBeLessThan(1e-2);
  expect(v.pass).toBe(true);
  await expect(page.locator('#verify-result')).toContainText('largest relative loss difference');
});

test('Verify gives a visible verdict beside a finished run and is off after a failed one', async ({ page }) => {
  await openApp(page);
  const status = page.locator('#status');
  const verify = page.locator('#verify');
  await expect(verify).toBeDisabled();
  await configure(page, { dataset: 'iris', epochs: '30', 'schedule-kind': 'alternate', device: 'gpu' });
  await page.click('#train');
  await expect(status).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  await page.click('#verify');
  const result = page.locator('#verify-result');
  await expect(result).toHaveAttribute('data-state', 'done', { timeout: 120_000 });
  await expect(result).toBeVisible();
  await expect(result).toHaveAttribute('data-verdict', 'pass');
  await expect(result).toContainText('PASS: masks identical in all 30 epochs');
  await expect(result).toContainText('tolerance 1.0e-4');
  await expect(result).toContainText('after epoch 20');
  await expect(result).toContainText('drift apart over many epochs');
  await expect(status).toContainText('Verification done: PASS');

  // A failed run: decoupled decay this strong scales the weights past float32 and the loss is NaN.
  await configure(page, { lambda: '1e38', mode: 'decoupled', 'schedule-kind': 'constant', epochs: '5' });
  await page.click('#train');
  await expect(status).toHaveAttribute('data-state', 'error', { timeout: 150_000 });
  await expect(page.locator('#error')).toContainText('DivergenceError');
  await expect(page.locator('#results')).toBeHidden();
  await expect(verify).toBeDisabled();
});

test('a malformed CSV shows its error with the line and never trains', async ({ page }) => {
  await openApp(page);
  // Line 4 holds a non-numeric cell; the file name must be shown as text, not as markup. The file
  // is dropped on the drop zone (the good one below comes through the file input).
  const bad = 'a,b,label\n1,2,x\n3,4,y\n5,oops,x\n6,7,y\n';
  await page.locator('#drop-zone').evaluate((zone, text) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([text], 'bad<b>name</b>.csv', { type: 'text/csv' }));
    zone.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }, bad);
  const error = page.locator('#data-error');
  await expect(error).toBeVisible();
  await expect(error).toHaveText('bad<b>name</b>.csv line 4, column 2 ("b"): "oops" is not a number');
  expect(await error.locator('b').count()).toBe(0);
  await expect(page.locator('#train')).toBeDisabled();

  // Even a forced submit does not start training.
  await page.locator('#config').evaluate((form: HTMLFormElement) => form.requestSubmit());
  await expect(page.locator('#error')).toContainText('no valid dataset');
  const s = await page.evaluate(() => window.__altreg!);
  expect(s.phase).toBe('ready');
  expect(s.history).toHaveLength(0);
  await expect(page.locator('#history-rows tr')).toHaveCount(0);

  // A good file replaces it; its class names are text too.
  const good = 'f1,f2,species\n1,2,<img src=x onerror="window.__xss=1">\n3,4,plain\n5,6,plain\n7,8,<img src=x onerror="window.__xss=1">\n';
  await page.setInputFiles('#csv-file', { name: 'good.csv', mimeType: 'text/csv', buffer: Buffer.from(good) });
  await expect(page.locator('#data-error')).toBeHidden();
  await expect(page.locator('#dataset-info')).toContainText('<img src=x');
  await expect(page.locator('#train')).toBeEnabled();
  expect(await page.locator('img').count()).toBe(0);
  expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
});

test('Stop ends a long WebGPU run between epochs', async ({ page }) => {
  await openApp(page);
  await configure(page, { dataset: 'iris', epochs: '5000', 'schedule-kind': 'rotate', device: 'gpu' });
  await page.click('#train');
  await page.waitForFunction(() => window.__altreg!.history.length >= 3, undefined, { timeout: 120_000 });
  await page.click('#stop');
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'stopped', { timeout: 60_000 });
  await expect(page.locator('#status')).toContainText('Stopped by user after');
  await expect(page.locator('#error')).toBeHidden();
  const done = await page.evaluate(() => window.__altreg!.history.length);
  expect(done).toBeGreaterThanOrEqual(3);
  expect(done).toBeLessThan(5000);
  // The epochs reported are those trained: the GPU trainer delivers the ones in flight at Stop too.
  await expect(page.locator('#status')).toHaveText(`Stopped by user after ${done} of 5000 epochs.`);
  await expect(page.locator('#history-rows tr td:nth-child(7)')).toHaveText(`${done} (stopped)`);
  await expect(page.locator('#verify')).toBeDisabled();
  // The trainer freed its GPU buffers on the way out.
  expect(await page.evaluate(() => window.__altreg!.liveBuffers)).toBe(0);
  await expect(page.locator('#train')).toBeEnabled();
});

test('at 400 px nothing scrolls the page sideways; wide tables scroll in their box, charts follow the window', async ({ page }) => {
  await page.setViewportSize({ width: 400, height: 900 });
  await openApp(page);
  // 40 classes of 4 rows: a confusion matrix far wider than the window.
  const rows = Array.from({ length: 160 }, (_, i) => `${i % 7},${(i * 3) % 11},class_${String(i % 40).padStart(2, '0')}`);
  await page.setInputFiles('#csv-file', { name: 'forty.csv', mimeType: 'text/csv', buffer: Buffer.from(['f1,f2,label', ...rows].join('\n')) });
  await expect(page.locator('#dataset-info')).toContainText('40 classes');
  await configure(page, { epochs: '3' });
  await page.click('#train');
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  await expect(page.locator('#confusion-table td[data-count]')).toHaveCount(1600);

  const pageScroll = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(await pageScroll(), 'page scrolls sideways at 400 px').toBe(0);
  for (const box of ['#confusion', '#report', '.table-scroll:has(table.history)']) {
    const [scroll, client] = await page.locator(box).evaluate((e) => [e.scrollWidth, e.clientWidth]);
    expect(client, `${box} fits the column`).toBeLessThanOrEqual(352);
    expect(scroll, `${box} scrolls inside`).toBeGreaterThanOrEqual(client);
  }
  expect(await page.locator('#confusion').evaluate((e) => e.scrollWidth > e.clientWidth)).toBe(true);
  // uPlot draws at the pixel width it was given: the plot itself must fit, not just its box.
  const chartWidths = () => page.locator('figure.chart .uplot').evaluateAll((all) => all.map((f) => f.getBoundingClientRect().width));
  expect(await chartWidths()).toHaveLength(5);
  for (const w of await chartWidths()) expect(w).toBeLessThanOrEqual(340);

  // A wider window: the charts grow back to their full width, and the page still fits.
  await page.setViewportSize({ width: 1280, height: 900 });
  await expect.poll(async () => Math.min(...(await chartWidths()))).toBe(400);
  expect(await pageScroll(), 'page scrolls sideways at 1280 px').toBe(0);
});

/** Fills a field with a value the form must refuse: its message shows, the field is marked, Train is off. */
async function refused(page: Page, id: string, value: string, message: string): Promise<void> {
  await page.fill(`#${id}`, value);
  await expect(page.locator('#config-error'), `${id} = "${value}"`).toContainText(message);
  await expect(page.locator(`#${id}`)).toHaveClass(/invalid/);
  await expect(page.locator('#train')).toBeDisabled();
}

test('a test fraction outside 0.05–0.9 is refused with the field marked, before any training', async ({ page }) => {
  await openApp(page);
  for (const value of ['0.99', '0.001', '0.95']) await refused(page, 'test-fraction', value, 'test fraction: "' + value + '" is not valid; expected a number from 0.05 to 0.9');
  await page.locator('#config').evaluate((form: HTMLFormElement) => form.requestSubmit());
  const s = await page.evaluate(() => window.__altreg!);
  expect(s.phase).toBe('ready');
  expect(s.history).toHaveLength(0);
  await page.fill('#test-fraction', '0.9');
  await expect(page.locator('#config-error')).toBeHidden();
  await expect(page.locator('#train')).toBeEnabled();
});

test('hidden layers take comma-separated decimal integers only; λ and number fields say what is wrong', async ({ page }) => {
  await openApp(page);
  for (const value of ['0x10', '10,,20', '1e1', '10 20', '10,']) await refused(page, 'hidden', value, 'hidden layers: width');
  // Empty: no hidden layer, one kernel to penalize.
  await page.fill('#hidden', '');
  await expect(page.locator('#config-error')).toBeHidden();
  await expect(page.locator('#mask-note')).toContainText('1 targeted tensor ×');
  await page.fill('#hidden', '32, 16');
  await expect(page.locator('#mask-note')).toContainText('3 targeted tensors');

  await refused(page, 'lambda', '1e40', 'float32');
  await page.fill('#lambda', '0.001');
  // A number field holding text the browser cannot read as a number has the value "".
  await page.locator('#lr').fill('');
  await page.locator('#lr').pressSequentially('1e');
  await expect(page.locator('#config-error')).toContainText('learning rate: what was typed is not a number');
  await expect(page.locator('#lr')).toHaveClass(/invalid/);
  expect(await page.evaluate(() => window.__altreg!.history)).toHaveLength(0);
});

test('data: the label column is for CSV files only; errors speak the app\'s terms and go with their dataset', async ({ page }) => {
  await openApp(page);
  const label = page.locator('#label-column');
  await expect(label).toBeDisabled();
  await page.setInputFiles('#csv-file', { name: 'semi.csv', mimeType: 'text/csv', buffer: Buffer.from('a;b;label\n1;2;x\n3;4;y\n') });
  await expect(page.locator('#data-error')).toContainText('separates its columns with semicolons');
  await expect(label).toBeEnabled();

  // Four rows, two per class: no test and validation split is possible.
  await page.setInputFiles('#csv-file', { name: 'tiny.csv', mimeType: 'text/csv', buffer: Buffer.from('f1,f2,label\n1,2,x\n3,4,x\n5,6,y\n7,8,y\n') });
  await expect(page.locator('#data-error')).toBeHidden();
  await page.click('#train');
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'error');
  await expect(page.locator('#error')).toContainText('tiny.csv has too few rows per class for a test and a validation split');
  await expect(page.locator('#error')).not.toContainText('SplitError');

  // A shipped dataset: the error goes, the label column is off and typing cannot reach it.
  await page.selectOption('#dataset', 'iris');
  await expect(page.locator('#dataset-info')).toContainText('iris: 150 rows');
  await expect(page.locator('#error')).toBeHidden();
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'ready');
  await expect(label).toBeDisabled();
  await expect(page.locator('#dataset')).toHaveValue('iris');

  // A finished run's results go when another dataset is chosen.
  await configure(page, { epochs: '3' });
  await page.click('#train');
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  await expect(page.locator('#results')).toBeVisible();
  await page.selectOption('#dataset', 'wine');
  await expect(page.locator('#dataset-info')).toContainText('wine');
  await expect(page.locator('#results')).toBeHidden();
  await expect(page.locator('#verify')).toBeDisabled();
  await expect(page.locator('#status')).toHaveText('Ready.');
});

test.describe('without WebGPU', () => {
  test.beforeEach(async ({ page }) => {
    await page.addInitScript(() => Object.defineProperty(navigator, 'gpu', { value: undefined, configurable: true }));
  });

  test('says so and trains on the CPU reference trainer end to end', async ({ page }, testInfo) => {
    await openApp(page);
    await expect(page.locator('#gpu-warning')).toBeVisible();
    await expect(page.locator('#gpu-warning')).toContainText('WebGPU is not available');
    await expect(page.locator('#gpu-warning')).toContainText('CPU reference trainer');
    await expect(page.locator('#adapter')).toHaveAttribute('data-backend', 'none');
    await expect(page.locator('#device')).toHaveValue('cpu');

    await configure(page, { dataset: 'iris', epochs: '50', lr: '0.01', 'schedule-kind': 'random', 'schedule-param': '0.5' });
    await page.click('#train');
    await expect(page.locator('#status')).toHaveAttribute('data-state', 'done', { timeout: 120_000 });
    const s = await page.evaluate(() => window.__altreg!);
    expect(s.device).toBe('cpu');
    expect(s.adapter).toBeNull();
    await expect(page.locator('#test-accuracy')).toContainText('Test accuracy');
    expect(Number(await page.locator('#test-accuracy').getAttribute('data-value'))).toBeGreaterThanOrEqual(0.8);
    // random:P: the preview drew from the model's schedule stream, so it equals what was applied.
    s.history.forEach((r, e) => expect(r.mask, `epoch ${e}`).toEqual(s.maskPreview[e]));
    await expect(page.locator('#verify')).toBeDisabled();

    const shot = testInfo.outputPath('trained-iris-cpu.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect((await stat(shot)).size).toBeGreaterThan(10_000);
  });
});
