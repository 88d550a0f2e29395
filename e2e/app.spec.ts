// The training app (web/index.html) in headless Chromium: Iris on SwiftShader's WebGPU end to
// end (curves, masks, confusion matrix, report, checkpoint, CPU verification and its verdict), a
// malformed CSV, Stop, the form's checks (each button held up only by the fields it uses), Compare
// schedules (Enter, what it replaces on screen), a narrow window, the CPU fallback without
// WebGPU, and large data (hundreds of classes, files too big to read, slow parses, a drop during a
// run). Every wait is on explicit page state.
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

/** Clicks Stop and reads, in the same task (before the job can end), the phase, the status and whether Stop is off. */
function pressStop(page: Page): Promise<{ state: string | undefined; text: string | null; disabled: boolean }> {
  return page.locator('#stop').evaluate((stop: HTMLButtonElement) => {
    stop.click();
    const status = document.getElementById('status')!;
    return { state: status.dataset.state, text: status.textContent, disabled: stop.disabled };
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
  // The verdict is the first word, in bold.
  await expect(result.locator('strong.verdict')).toHaveText('PASS');
  await expect(result).toHaveText(/^PASS: masks identical in all 30 epochs/);
  await expect(result).toContainText('tolerance 1.0e-4');
  await expect(result).toContainText('after epoch 20');
  await expect(result).toContainText('drift apart over many epochs');
  await expect(status).toContainText('Verification done: PASS');
  await expect(result).not.toContainText('Likely cause');

  // A learning rate of 5 with tanh makes training chaotic: the trainers' last-bit differences grow
  // past the tolerance within 5 epochs (at λ 1e20 they used to, from float64 sums in the CPU
  // reference's Adam; its optimizer now rounds to float32 as the GPU does). FAIL leads in red, and
  // says why; the status is not in success's green either.
  await configure(page, { lr: '5', activation: 'tanh', 'schedule-kind': 'constant', epochs: '5' });
  await page.click('#train');
  await expect(status).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  await page.click('#verify');
  await expect(result).toHaveAttribute('data-state', 'done', { timeout: 120_000 });
  await expect(result).toHaveAttribute('data-verdict', 'fail');
  await expect(result.locator('strong.verdict')).toHaveText('FAIL');
  await expect(result).toHaveText(/^FAIL: masks identical in all 5 epochs/);
  await expect(result).toContainText('Likely cause: a learning rate this large (≥ 1) often makes training chaotic');
  const red = 'rgb(207, 34, 46)';
  await expect(result.locator('strong.verdict')).toHaveCSS('color', red);
  await expect(status).toContainText('Verification done: FAIL');
  await expect(status).toHaveCSS('color', red);
  // The causes a FAIL can be given, from the comparison's fields: overflow wins over chaos, a mask
  // difference (never numerical) gets neither, and a PASS no cause.
  const causes = await page.evaluate(async () => {
    const url = performance.getEntriesByType('resource').map((e) => e.name).find((n) => new URL(n).pathname.endsWith('/app/training.ts'));
    const { describeComparison } = await import(url!);
    const base = { epochs: 5, judgedEpochs: 5, maxLossDiff: 0.5, maxLossEpoch: 3, maxValLossDiff: 0, laterLossDiff: null, laterLossEpoch: 0, maxWeightDiff: 1, maxWeightTensor: 'dense_0/kernel', maskDifferences: 0, tolerance: 1e-4, pass: false };
    const cause = (c: object) => (/Likely cause: [^.]*/.exec(describeComparison({ ...base, ...c })) ?? ['none'])[0];
    return [
      cause({ overflowLikely: true, chaoticLikely: true }),
      cause({ overflowLikely: false, chaoticLikely: true }),
      cause({ overflowLikely: true, chaoticLikely: true, maskDifferences: 1 }),
      cause({ overflowLikely: true, chaoticLikely: true, pass: true }),
    ];
  });
  expect(causes).toEqual(['Likely cause: extreme values', 'Likely cause: a learning rate this large (≥ 1) often makes training chaotic: the two trainers add their float32 sums in different orders, and such training multiplies those last-bit differences epoch after epoch; with a smaller learning rate the two trainers agree', 'none', 'none']);

  // A failed run: decoupled decay this strong scales the weights past float32 and the loss is NaN.
  await configure(page, { lr: '0.01', activation: 'relu', lambda: '1e38', mode: 'decoupled', 'schedule-kind': 'constant', epochs: '5' });
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
  // The file input says it where it stands, after its hint.
  await expect(page.locator('#csv-file')).toHaveAccessibleDescription('A header row; numeric feature columns; the class in the label column. bad<b>name</b>.csv line 4, column 2 ("b"): "oops" is not a number');

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
  await expect(page.locator('#csv-file')).toHaveAttribute('aria-describedby', 'csv-file-hint');
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
  expect(await pressStop(page), 'Stop answers at once, while the run still goes').toEqual({ state: 'training', text: 'Stopping… (after the current epoch)', disabled: true });
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

test('at 400 px nothing scrolls the page sideways; wide tables (the comparison too) scroll in their box, charts follow the window', async ({ page }) => {
  await page.setViewportSize({ width: 400, height: 900 });
  await openApp(page);
  // 40 classes of 4 rows: a confusion matrix far wider than the window.
  const rows = Array.from({ length: 160 }, (_, i) => `${i % 7},${(i * 3) % 11},class_${String(i % 40).padStart(2, '0')}`);
  await page.setInputFiles('#csv-file', { name: 'forty.csv', mimeType: 'text/csv', buffer: Buffer.from(['f1,f2,label', ...rows].join('\n')) });
  await expect(page.locator('#dataset-info')).toContainText('40 classes');
  // Compare first: a comparison clears Train's results, a Train leaves the comparison.
  await configure(page, { epochs: '3', folds: '2', 'compare-schedules': 'none, constant, alternate, rotate, parity, random:0.5, early:2' });
  await page.click('#compare');
  await expect(page.locator('#comparison')).toBeVisible({ timeout: 150_000 });
  await expect(page.locator('#compare-table tbody tr')).toHaveCount(7);
  await page.click('#train');
  await expect(page.locator('#status')).toContainText('Done: 3 epochs', { timeout: 150_000 });
  await expect(page.locator('#confusion-table td[data-count]')).toHaveCount(1600);
  await expect(page.locator('#comparison')).toBeVisible();

  const pageScroll = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(await pageScroll(), 'page scrolls sideways at 400 px').toBe(0);
  for (const box of ['#confusion', '#report', '#compare-result', '.table-scroll:has(table.history)']) {
    const client = await page.locator(box).evaluate((e) => e.clientWidth);
    expect(client, `${box} fits the column`).toBeLessThanOrEqual(352);
  }
  expect(await page.locator('#confusion').evaluate((e) => e.scrollWidth > e.clientWidth)).toBe(true);
  expect(await page.locator('#compare-result').evaluate((e) => e.scrollWidth > e.clientWidth), 'the comparison table scrolls in its box').toBe(true);
  // The columns scrolled out of the box are named above it; the schedule names stay in view.
  const scrollNote = page.locator('#compare-scroll-note');
  await expect(scrollNote).toBeVisible();
  await expect(scrollNote).toContainText('log-loss and Δ (p)');
  await expect(page.locator('#compare-table tbody th').first()).toHaveCSS('position', 'sticky');
  // uPlot draws at the pixel width it was given: the plot itself must fit, not just its box.
  const chartWidths = () => page.locator('figure.chart .uplot').evaluateAll((all) => all.map((f) => f.getBoundingClientRect().width));
  expect(await chartWidths()).toHaveLength(5);
  for (const w of await chartWidths()) expect(w).toBeLessThanOrEqual(340);

  // A wider window: the charts grow back to their full width, and the page still fits.
  await page.setViewportSize({ width: 1280, height: 900 });
  await expect.poll(async () => Math.min(...(await chartWidths()))).toBe(400);
  expect(await pageScroll(), 'page scrolls sideways at 1280 px').toBe(0);
  // The whole comparison table fits: no note.
  await expect(scrollNote).toBeHidden();
});

/** The schedule comparison table's cells, row by row (the schedule first). */
function comparisonCells(page: Page): Promise<string[][]> {
  return page.locator('#compare-table tbody tr').evaluateAll((rows) => rows.map((r) => Array.from(r.children, (c) => c.textContent ?? '')));
}

test('Compare schedules: the table holds runExperiment\'s numbers for the form\'s settings and an arm\'s own λ, in formatComparison\'s format', async ({ page }) => {
  await openApp(page);
  const settings = { hidden: [10], activation: 'relu', lr: 0.01, epochs: 30, batchSize: 16, seed: 3, lambda: 0.001, mode: 'coupled', convention: 'keras', targets: 'kernels', folds: 3 } as const;
  await configure(page, {
    dataset: 'iris',
    hidden: '10',
    activation: settings.activation,
    lr: String(settings.lr),
    epochs: String(settings.epochs),
    'batch-size': String(settings.batchSize),
    seed: String(settings.seed),
    lambda: String(settings.lambda),
    mode: settings.mode,
    convention: settings.convention,
    targets: settings.targets,
    device: 'gpu',
    folds: String(settings.folds),
    // The last arm has its own λ (half the form's).
    'compare-schedules': 'none,constant,alternate,constant@0.0005',
  });
  await page.click('#compare');
  const status = page.locator('#status');
  await expect(status).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  await expect(status).toContainText('Comparison done: 4 schedules × 3 folds on WebGPU');
  await expect(page.locator('#error')).toBeHidden();
  expect(await page.evaluate(() => window.__altreg!.liveBuffers), 'GPU buffers left after the comparison').toBe(0);

  const cells = await comparisonCells(page);
  expect(cells.map((r) => r[0])).toEqual(['none', 'constant', 'alternate', 'constant@0.0005']);
  for (const r of cells) {
    expect(r[1], `${r[0]} accuracy`).toMatch(/^0\.9\d\d ± 0\.0\d\d$/);
    expect(r[2], `${r[0]} macro-F1`).toMatch(/^0\.9\d\d ± 0\.0\d\d$/);
    expect(r[3], `${r[0]} log-loss`).toMatch(/^\d\.\d{3} ± \d\.\d{3}$/);
  }
  expect(cells[0].slice(4), 'the baseline has no difference to itself').toEqual(['—', '—']);
  // Signed differences (never "-0.000"; one too small for 3 decimals in 2 significant digits),
  // p, and the 95% confidence interval under them, which holds the difference.
  const SIGNED = String.raw`(?:[+-](?!0\.000\b)\d\.\d{3}|[+-]\d\.\d0*[1-9]\d|[+-]\d\.\de-\d+|0\.000)`;
  const DELTA = new RegExp(`^(${SIGNED}) \\(p (<0\\.001|[01]\\.\\d{3,}|n\\/a)\\)95% CI (${SIGNED}) … (${SIGNED})$`);
  for (const r of cells.slice(1)) {
    for (const c of r.slice(4)) {
      expect(c, `${r[0]} Δ`).toMatch(DELTA);
      const [, delta, , low, high] = DELTA.exec(c)!;
      expect(Number(low), c).toBeLessThanOrEqual(Number(delta));
      expect(Number(high), c).toBeGreaterThanOrEqual(Number(delta));
    }
  }
  await expect(page.locator('#compare-table thead')).toContainText('Δ accuracy vs none');
  // The schedule header sits over its names, on the left.
  await expect(page.locator('#compare-table thead th').first()).toHaveCSS('text-align', 'left');
  const meaning = page.locator('#compare-meaning');
  // alternate's control (plain L2 at 0.75 λ over the 30 epochs) was not listed: the page says so.
  await expect(page.locator('#compare-controls')).toHaveText(
    'Missing control: constant@0.00075 is plain L2 as strong on average as alternate, over 30 epochs. Without it, a gain over plain L2 at the same λ may only mean that λ was too strong. Add matched controls (above) lists it for the next comparison.',
  );
  for (const part of ['same 3 stratified folds with the same seeds', 'two-sided paired t-test over the folds, corrected for the training rows the folds share', 'p ≥ 0.05 means the difference is not distinguishable from fold-to-fold noise, which is not evidence that there is none', 'The 6 tests are not adjusted for multiplicity']) await expect(meaning).toContainText(part);

  // The same experiment called directly in the page, with the library module the app loaded and
  // options written out here, on a device of the same adapter: the numbers must be identical.
  const { app, direct, text } = await page.evaluate(async (o) => {
    const libUrl = performance.getEntriesByType('resource').map((e) => e.name).find((n) => new URL(n).pathname.endsWith('/src/index.ts'));
    const lib = await import(libUrl!);
    const arms = [...['none', 'constant', 'alternate'].map((schedule) => ({ name: schedule, lambda: o.lambda, schedule })), { name: 'constant@0.0005', lambda: 0.0005, schedule: 'constant' }].map((a) => ({
      name: a.name,
      penalty: { lambda: a.lambda, mode: o.mode, convention: o.convention, targets: o.targets, schedule: a.schedule },
    }));
    const result = await lib.runExperiment({
      dataset: await lib.loadDataset('iris'),
      model: { hidden: o.hidden, activation: o.activation },
      arms,
      folds: o.folds,
      epochs: o.epochs,
      batchSize: o.batchSize,
      optimizer: { lr: o.lr },
      seed: o.seed,
      device: 'gpu',
      gpu: await lib.requestGpu(),
    });
    type Result = { arms: { arm: { name: string }; accuracy: object; macroF1: object; logLoss: object; versusFirst?: { accuracy: object; logLoss: object }; folds: { test: { predictions: Uint32Array }; logLoss: number }[] }[] };
    const numbers = (r: Result) =>
      r.arms.map((a) => ({
        name: a.arm.name,
        accuracy: a.accuracy,
        macroF1: a.macroF1,
        logLoss: a.logLoss,
        versusFirst: a.versusFirst ? { accuracy: a.versusFirst.accuracy, logLoss: a.versusFirst.logLoss } : null,
        folds: a.folds.map((f) => ({ predictions: Array.from(f.test.predictions), logLoss: f.logLoss })),
      }));
    const shown = window.__altreg!.comparison as unknown as Result;
    return { app: numbers(shown), direct: numbers(result), text: lib.formatComparison(shown) as string };
  }, settings);
  expect(app).toHaveLength(4);
  expect(app[0].folds).toHaveLength(settings.folds);
  expect(app).toEqual(direct);

  // The table is formatComparison's table cell by cell, which the text block shows in full; the
  // intervals under the Δ are its second table's.
  const lines = text.split('\n');
  const split = (line: string) => line.trim().split(/ {2,}/);
  const intervals = lines.slice(lines.findIndex((l) => l.includes('95% CI')) + 2).slice(0, 3).map(split);
  const textRows = lines.slice(2, 6).map(split).map((r, i) => (i === 0 ? r : [...r.slice(0, 4), `${r[4]}95% CI ${intervals[i - 1][1]}`, `${r[5]}95% CI ${intervals[i - 1][2]}`]));
  expect(intervals.map((r) => r[0])).toEqual(['constant', 'alternate', 'constant@0.0005']);
  expect(cells).toEqual(textRows);
  await expect(page.locator('#compare-text')).toContainText(text);
  await expect(page.locator('#compare-text')).toContainText("Schedules compared on iris (3-fold; 10 hidden, relu, Adam lr 0.01, λ 0.001 or the arm's @λ, coupled/keras on kernels");
  // The arm with its own λ is not the plain constant arm: half the penalty, another log-loss.
  expect(app[3].logLoss).not.toEqual(app[1].logLoss);
});

test('Compare refuses more folds than the smallest class has rows, with the field marked, before any training', async ({ page }) => {
  await openApp(page);
  await refusedCompare(page, '25', 'folds: "25" is not valid; expected an integer from 2 to 20');
  // Six rows of "a", three of "b": at most 3 folds.
  const rows = ['1,2,a', '2,3,a', '3,4,a', '4,5,a', '5,6,a', '6,7,a', '7,8,b', '8,9,b', '9,1,b'];
  await page.setInputFiles('#csv-file', { name: 'small.csv', mimeType: 'text/csv', buffer: Buffer.from(['f1,f2,label', ...rows].join('\n')) });
  await expect(page.locator('#dataset-info')).toContainText('small.csv: 9 rows');
  await refusedCompare(page, '4', 'folds: small: class "b" (id 1) has 3 rows, fewer than the 4 folds asked for; every class needs at least 4 rows (use at most 3 folds for this dataset)');
  // Compare's fields do not hold up Train.
  await expect(page.locator('#train')).toBeEnabled();
  await expect(page.locator('#config-error')).toBeHidden();
  // Even a forced click does not start anything.
  await page.locator('#compare').evaluate((button: HTMLButtonElement) => {
    button.disabled = false;
    button.click();
  });
  await expect(page.locator('#compare')).toBeDisabled();
  const s = await page.evaluate(() => window.__altreg!);
  expect(s.phase).toBe('ready');
  expect(s.compareProgress).toBeNull();
  expect(s.comparison).toBeNull();
  await expect(page.locator('#comparison')).toBeHidden();
  await page.fill('#folds', '3');
  await expect(page.locator('#compare-error')).toBeHidden();
  await expect(page.locator('#folds')).not.toHaveClass(/invalid/);
  await expect(page.locator('#compare')).toBeEnabled();
  // A schedules list needs two arms, each once; an arm's own λ must be a usable λ. The form's λ
  // is 0.001, so constant@0.001 is the constant arm again.
  for (const [value, message] of [
    ['none', 'schedules: 1 given'],
    ['none, alternate, none', 'none is listed twice'],
    ['none, sometimes', "unknown schedule 'sometimes'"],
    ['none, constant@', "schedules: the λ after @ in 'constant@' must be a number from 0 to 1.7e38 (2λ must fit in a float32), got ''"],
    ['none, constant@1e39', "got '1e39'"],
    ['constant, constant@0.001', 'schedules: constant and constant@0.001 are the same arm (λ 0.001); list each arm once'],
    ['none, none@0.5', 'schedules: none has no λ (its terms are always off); write none without @'],
  ]) {
    await page.fill('#compare-schedules', value);
    await expect(page.locator('#compare-error'), value).toContainText(message);
    await expect(page.locator('#compare-schedules')).toHaveClass(/invalid/);
    await expect(page.locator('#compare')).toBeDisabled();
  }
});

test('Add matched controls appends plain L2 at each schedule\'s average strength, once, and Compare trains them', async ({ page }) => {
  await openApp(page);
  const list = page.locator('#compare-schedules');
  const note = page.locator('#matched-note');
  const given = 'none, constant, alternate, rotate@0.02, parity@0.01, early:1, constant@0.005';
  await configure(page, { dataset: 'iris', hidden: '10', lambda: '0.01', targets: 'kernels', epochs: '4', folds: '2', 'compare-schedules': given });
  await page.click('#add-matched');
  // Two kernel terms over 4 epochs: alternate keeps each on 3 epochs in 4 (0.0075), rotate and
  // parity 1 in 2, early:1 1 in 4 (0.0025). rotate@0.02's control is constant at the form's λ,
  // listed already, and parity@0.01's is constant@0.005, listed too.
  const grown = `${given}, constant@0.0075, constant@0.0025`;
  await expect(list).toHaveValue(grown);
  await expect(note).toHaveText("Added constant@0.0075 for alternate; constant@0.0025 for early:1 (plain L2 at the schedule's average strength over 4 epochs).");
  await page.click('#add-matched');
  await expect(list).toHaveValue(grown);
  await expect(note).toHaveText('Nothing to add: every listed schedule that switches terms already has its control.');
  // The note is about the settings it read: an edit clears it.
  await page.locator('#folds').fill('2');
  await expect(note).toBeHidden();

  // Compare trains the list as it now reads.
  await page.click('#compare');
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  expect((await comparisonCells(page)).map((r) => r[0])).toEqual(['none', 'constant', 'alternate', 'rotate@0.02', 'parity@0.01', 'early:1', 'constant@0.005', 'constant@0.0075', 'constant@0.0025']);
  await expect(page.locator('#compare-controls'), 'every control was listed').toBeHidden();

  // Three kernel terms (two hidden layers) over 300 epochs: alternate keeps each on 5 epochs in 6.
  // Trailing commas go.
  await configure(page, { hidden: '6,5', epochs: '300', 'compare-schedules': 'constant, alternate,, ' });
  await page.click('#add-matched');
  await expect(list).toHaveValue('constant, alternate, constant@0.00833333');
  // A list or a shared field that cannot be read says so, and the list is left as it was.
  await configure(page, { 'compare-schedules': 'none, sometimes' });
  await page.click('#add-matched');
  await expect(note).toHaveText("Matched controls need a valid schedules list: schedules: unknown schedule 'sometimes'; valid: constant, none, alternate, rotate, parity, random:P (0 ≤ P ≤ 1) or early:E (integer E ≥ 0)");
  await expect(list).toHaveValue('none, sometimes');
  await configure(page, { lambda: '-1', 'compare-schedules': 'constant, alternate' });
  await page.click('#add-matched');
  await expect(note).toHaveText('Matched controls need valid shared settings (λ, hidden layers, targets, epochs): λ: "-1" is not valid; expected a number from 0 to 1.7e38 (2λ must fit in a float32)');
  await expect(list).toHaveValue('constant, alternate');
});

test('Stop ends a long comparison and gives the controls back', async ({ page }) => {
  await openApp(page);
  await configure(page, { dataset: 'iris', epochs: '5000', folds: '5', 'compare-schedules': 'none, constant, alternate', device: 'gpu' });
  await page.click('#compare');
  await page.waitForFunction(() => (window.__altreg!.compareProgress?.epoch ?? 0) >= 3, undefined, { timeout: 120_000 });
  const status = page.locator('#status');
  await expect(status).toHaveAttribute('data-state', 'comparing');
  await expect(status).toContainText(/^Comparing 3 schedules × 5 folds on WebGPU \(.*\): epoch \d+\/5000$/);
  // While it runs, as while training: the form, Train, Compare and Verify off, Stop on.
  for (const id of ['train', 'compare', 'verify', 'folds', 'dataset', 'epochs']) await expect(page.locator(`#${id}`), id).toBeDisabled();
  await expect(page.locator('#stop')).toBeEnabled();

  expect(await pressStop(page), 'Stop answers at once, while the comparison still goes').toEqual({ state: 'comparing', text: 'Stopping… (after the current epoch)', disabled: true });
  await expect(status).toHaveAttribute('data-state', 'stopped', { timeout: 60_000 });
  const s = await page.evaluate(() => window.__altreg!);
  expect(s.compareProgress!.epoch).toBeLessThan(5000);
  await expect(status).toHaveText(`Comparison stopped by user at epoch ${s.compareProgress!.epoch} of 5000; nothing compared.`);
  await expect(page.locator('#error')).toBeHidden();
  await expect(page.locator('#comparison')).toBeHidden();
  expect(s.comparison).toBeNull();
  expect(s.liveBuffers, 'GPU buffers left after Stop').toBe(0);
  for (const id of ['train', 'compare', 'folds', 'dataset', 'epochs']) await expect(page.locator(`#${id}`), id).toBeEnabled();
  await expect(page.locator('#stop')).toBeDisabled();
});

test('Enter in a Compare field runs Compare, never Train; in a wide window the status and the result come into view', async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 850 });
  await openApp(page);
  const status = page.locator('#status');
  await configure(page, { dataset: 'iris', epochs: '3', folds: '2', 'compare-schedules': 'none', device: 'gpu' });
  await expect(page.locator('#compare')).toBeDisabled();
  await expect(page.locator('#train')).toBeEnabled();
  // An invalid list: Enter starts nothing, Train neither (the form's submit button).
  for (const id of ['folds', 'compare-schedules']) {
    await page.locator(`#${id}`).press('Enter');
    expect(await page.evaluate(() => window.__altreg!.phase), `Enter in #${id}`).toBe('ready');
  }
  await expect(page.locator('#compare-schedules'), 'Enter adds no line to the list').toHaveValue('none');

  // The buttons sit far below the status: pressing Enter in Folds scrolled the status out of view.
  await page.fill('#compare-schedules', 'none, constant');
  await page.locator('#folds').press('Enter');
  expect(await page.evaluate(() => window.__altreg!.phase)).toBe('comparing');
  await expect(status).toBeInViewport();
  await expect(status).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  await expect(status).toContainText('Comparison done: 2 schedules × 2 folds');
  await expect(page.locator('#comparison')).toBeInViewport();
  expect(await page.evaluate(() => window.__altreg!.history), 'nothing was trained by Train').toHaveLength(0);
  await expect(page.locator('#history-rows tr')).toHaveCount(0);
});

test('each button is held up only by the fields it uses: Train by its schedule and test fraction, Compare by its folds and schedules', async ({ page }) => {
  await openApp(page);
  const [train, compare, configError] = [page.locator('#train'), page.locator('#compare'), page.locator('#config-error')];
  // Train's own fields: Train off, Compare on.
  await refused(page, 'test-fraction', '0.95', 'test fraction: "0.95" is not valid');
  await expect(configError).toContainText('Train only: Compare does not use this field');
  await expect(compare).toBeEnabled();
  await page.fill('#test-fraction', '0.2');
  await page.selectOption('#schedule-kind', 'random');
  await refused(page, 'schedule-param', '1.5', 'random:P needs 0 ≤ P ≤ 1, got 1.5');
  await expect(compare).toBeEnabled();
  await expect(page.locator('#compare-error')).toBeHidden();

  // Compare's own fields: Compare off, Train on.
  await page.fill('#schedule-param', '0.5');
  await refusedCompare(page, '25', 'folds: "25" is not valid; expected an integer from 2 to 20');
  await expect(train).toBeEnabled();
  await expect(configError).toBeHidden();
  await page.fill('#folds', '2');

  // A field both use: both off, and the message does not say Train only.
  await refused(page, 'lr', '0', 'learning rate: "0" is not valid');
  await expect(compare).toBeDisabled();
  // Positive, but 0 in the GPU's float32: refused here, not by the trainer after Train.
  await refused(page, 'lr', '1e-50', 'learning rate: "1e-50" is not valid; expected a number in (0, 10], at least 1.18e-38 (a normal float32)');
  await expect(configError).not.toContainText('Train only');
  await page.fill('#lr', '0.01');

  // With Train's schedule wrong, Compare still runs its own schedules.
  await configure(page, { epochs: '2', 'compare-schedules': 'none, constant', 'schedule-param': '1.5' });
  await expect(train).toBeDisabled();
  await compare.click();
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  await expect(page.locator('#compare-table tbody tr')).toHaveCount(2);
  await expect(train).toBeDisabled();
});

test("Compare replaces a finished Train's results on screen, Verify included; the mask grid names Train's schedule", async ({ page }) => {
  await openApp(page);
  const status = page.locator('#status');
  await configure(page, { dataset: 'iris', epochs: '3', 'schedule-kind': 'rotate', device: 'gpu', folds: '2', 'compare-schedules': 'none, constant' });
  await page.click('#train');
  await expect(status).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  await expect(page.locator('#results')).toBeVisible();
  await expect(page.locator('#verify')).toBeEnabled();
  await expect(page.locator('#charts figure.chart')).toHaveCount(4);
  await expect(page.locator('#mask-grid [data-applied]')).toHaveCount(3 * 2);

  await page.click('#compare');
  // At once, while it runs: the last run's curves, test set and Verify are gone, the grid holds
  // Train's plan only, and says whose.
  expect(await page.evaluate(() => window.__altreg!.phase)).toBe('comparing');
  await expect(page.locator('#results')).toBeHidden();
  await expect(page.locator('#verify')).toBeDisabled();
  await expect(page.locator('#charts figure.chart')).toHaveCount(0);
  await expect(page.locator('#mask-grid [data-applied]')).toHaveCount(0);
  await expect(page.getByRole('heading', { name: "Penalty masks of Train's schedule" })).toBeVisible();
  await expect(page.locator('#mask-note')).toHaveText(/^rotate: 2 targeted tensors × 3 epochs/);

  await expect(status).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  await expect(page.locator('#comparison')).toBeVisible();
  await expect(page.locator('#results')).toBeHidden();
  await expect(page.locator('#verify')).toBeDisabled();
  expect(await page.evaluate(() => window.__altreg!.testAccuracy)).toBeNull();
});

/** Fills a field with a value the form must refuse: its message shows, the field is marked, Train is off. */
async function refused(page: Page, id: string, value: string, message: string): Promise<void> {
  await page.fill(`#${id}`, value);
  await expect(page.locator('#config-error'), `${id} = "${value}"`).toContainText(message);
  await expect(page.locator(`#${id}`)).toHaveClass(/invalid/);
  await expect(page.locator('#train')).toBeDisabled();
}

/** Fills the folds with a value Compare must refuse: its message shows, the field is marked, Compare is off. */
async function refusedCompare(page: Page, folds: string, message: string): Promise<void> {
  await page.fill('#folds', folds);
  await expect(page.locator('#compare-error'), `folds = "${folds}"`).toHaveText(message);
  await expect(page.locator('#folds')).toHaveClass(/invalid/);
  await expect(page.locator('#compare')).toBeDisabled();
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

test('a dataset still loading keeps Train and Compare off, and a later choice wins over a load that finishes after it', async ({ page }) => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route(/digits/, async (route) => {
    await held;
    await route.continue();
  });
  await openApp(page);
  await page.selectOption('#dataset', 'digits');
  await expect(page.locator('#train')).toBeDisabled();
  await expect(page.locator('#compare')).toBeDisabled();
  await page.selectOption('#dataset', 'wine');
  await expect(page.locator('#train')).toBeEnabled();
  await expect(page.locator('#dataset-info')).toContainText('wine');
  const arrived = page.waitForResponse(/digits/);
  release();
  await arrived;
  // Let the page handle what arrived: the stale digits must not replace wine.
  await page.waitForTimeout(500);
  await expect(page.locator('#dataset-info')).toContainText('wine');
  await expect(page.locator('#train')).toBeEnabled();
});

test('data: the label column is for CSV files only; errors speak the app\'s terms and go with their dataset', async ({ page }) => {
  await openApp(page);
  const label = page.locator('#label-column');
  await expect(label).toBeDisabled();
  await page.setInputFiles('#csv-file', { name: 'semi.csv', mimeType: 'text/csv', buffer: Buffer.from('a;b;label\n1;2;x\n3;4;y\n') });
  // The library's hint, once (the app added its own too).
  await expect(page.locator('#data-error')).toContainText('fields are separated by commas only; this header has semicolons');
  expect((await page.locator('#data-error').textContent())!.match(/semicolons/g)).toHaveLength(1);
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
    // The library says it with the code a caller falls back on (it had none in a browser without navigator.gpu).
    const refusal = await page.evaluate(async () => {
      const libUrl = performance.getEntriesByType('resource').map((e) => e.name).find((n) => new URL(n).pathname.endsWith('/src/index.ts'));
      const lib = await import(libUrl!);
      return lib.requestGpu().then(
        () => null,
        (e: { name: string; code?: string; message: string }) => [e.name, e.code, e.message],
      );
    });
    expect(refusal).toEqual(['GpuError', 'no-adapter', 'WebGPU is not available here: navigator.gpu is missing (it needs a secure context: https, localhost or 127.0.0.1)']);

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

test('one epoch is "1 epoch": mask note, Train, Compare and its missing control', async ({ page }) => {
  await openApp(page);
  await configure(page, { dataset: 'iris', hidden: '10', epochs: '1', folds: '2', 'schedule-kind': 'rotate', 'compare-schedules': 'none, rotate', device: 'gpu' });
  await expect(page.locator('#mask-note')).toHaveText(/^rotate: 2 targeted tensors × 1 epoch\./);
  await page.click('#train');
  await expect(page.locator('#status')).toHaveText(/^Done: 1 epoch on /, { timeout: 150_000 });
  await page.click('#compare');
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  await expect(page.locator('#compare-summary')).toContainText(', 1 epoch, batch 32, seed 0)');
  await expect(page.locator('#compare-controls')).toContainText('as rotate, over 1 epoch. Without it');
});

// ---- large datasets: many classes, big files ----

/** A CSV of `classes` classes of `perClass` rows each, two features (class c's rows cluster near (c, c mod 13)). */
function manyClasses(classes: number, perClass: number): Buffer {
  const rows: string[] = [];
  for (let i = 0; i < classes * perClass; i++) {
    const c = i % classes;
    rows.push(`${(c + 0.1 * (i % 3)).toFixed(2)},${((c % 13) + 0.05 * (i % 5)).toFixed(2)},c${c}`);
  }
  return Buffer.from(['f1,f2,label', ...rows].join('\n') + '\n');
}

/** Records every text #status shows (read when the change is seen, as a painted frame would show it) into window.__statusSeen. */
async function watchStatus(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { __statusSeen: string[] }).__statusSeen = seen;
    const status = document.getElementById('status')!;
    const info = document.getElementById('dataset-info')!;
    // One log of both, in order: the status's text and, tagged, each new dataset info.
    new MutationObserver(() => seen.push(status.textContent ?? '')).observe(status, { childList: true, characterData: true, subtree: true });
    new MutationObserver(() => seen.push(`info: ${info.textContent}`)).observe(info, { childList: true, characterData: true, subtree: true });
  });
}

function statusSeen(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __statusSeen: string[] }).__statusSeen);
}

test('400 classes train and show their results (no spread of k² counts overflows the stack); the checkpoint downloads', async ({ page }) => {
  await openApp(page);
  await page.setInputFiles('#csv-file', { name: 'c400.csv', mimeType: 'text/csv', buffer: manyClasses(400, 3) });
  await expect(page.locator('#dataset-info')).toContainText('c400.csv: 1200 rows, 2 features, 400 classes');
  await configure(page, { epochs: '1', hidden: '8', device: 'gpu' });
  await watchStatus(page);
  await page.click('#train');
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  await expect(page.locator('#error')).toBeHidden();
  // Between the last epoch and Done, the status says what the page is doing.
  expect(await statusSeen(page)).toContain('Evaluating the test rows…');
  await expect(page.locator('#results')).toBeVisible();
  await expect(page.locator('#confusion-heatmap')).toHaveAttribute('data-classes', '400');
  const s = await page.evaluate(() => window.__altreg!);
  expect(s.confusion).toHaveLength(400);
  expect(s.confusion!.flat().reduce((a, b) => a + b, 0)).toBe(s.testRows);
  await expect(page.locator('#report-table tbody tr')).toHaveCount(400 + 3);
  await expect(page.locator('#history-rows tr')).toHaveCount(1);
  const [weights] = await Promise.all([page.waitForEvent('download'), page.click('#download-weights')]);
  expect(weights.suggestedFilename()).toBe('weights.safetensors');
  const [manifestDownload] = await Promise.all([page.waitForEvent('download'), page.click('#download-manifest')]);
  expect(JSON.parse(await readFile((await manifestDownload.path())!, 'utf8')).format).toBe('altreg-checkpoint');
  const [resultsDownload] = await Promise.all([page.waitForEvent('download'), page.click('#download-results')]);
  const text = await readFile((await resultsDownload.path())!, 'utf8');
  const results = JSON.parse(text);
  expect(results.test.confusion).toEqual(s.confusion);
  // Arrays of numbers on one line each (jsonText, as the CLI's --json): the 160,000 counts of
  // the confusion matrix are one line, not 160,000.
  expect(text.split('\n').length).toBeLessThan(10_000);
});

test('300 classes: the confusion matrix is a heatmap with a note, the report scrolls in its box, and the page stays small', async ({ page }, testInfo) => {
  await openApp(page);
  await page.setInputFiles('#csv-file', { name: 'c300.csv', mimeType: 'text/csv', buffer: manyClasses(300, 3) });
  await expect(page.locator('#dataset-info')).toContainText('300 classes');
  await configure(page, { epochs: '1', hidden: '8', device: 'gpu' });
  await page.click('#train');
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  await expect(page.locator('#results')).toBeVisible();
  // A table would be 90,000 cells, thousands of pixels wide and tall.
  await expect(page.locator('#confusion-table')).toHaveCount(0);
  const elements = await page.locator('#results').evaluate((e) => e.querySelectorAll('*').length);
  expect(elements, 'elements in the results').toBeLessThan(3000);
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  expect(height, 'page height (px)').toBeLessThan(4000);
  await expect(page.locator('#confusion-note')).toBeVisible();
  await expect(page.locator('#confusion-note')).toContainText('The full 300 × 300 matrix is in the results JSON download.');
  const heatmap = page.locator('#confusion-heatmap');
  await expect(heatmap).toBeVisible();
  expect((await heatmap.boundingBox())!.width).toBeLessThanOrEqual(480);
  // Hovering names the pair under the pointer: the top left pixel is true c0, predicted c0.
  await heatmap.hover({ position: { x: 0.5, y: 0.5 } });
  await expect(heatmap).toHaveAttribute('title', /^true c0, predicted c0: \d+$/);
  // The report's 300 rows scroll within a bounded box; its text too.
  const report = await page.locator('#report').evaluate((e) => ({ client: e.clientHeight, scroll: e.scrollHeight }));
  expect(report.client).toBeLessThanOrEqual(500);
  expect(report.scroll).toBeGreaterThan(report.client);
  const text = await page.locator('#report-text').evaluate((e) => ({ client: e.clientHeight, scroll: e.scrollHeight }));
  expect(text.client).toBeLessThanOrEqual(360);
  expect(text.scroll).toBeGreaterThan(text.client);
  await page.screenshot({ path: testInfo.outputPath('300-classes.png'), fullPage: true });
});

test('a failure in drawing the results keeps the trained run: what could be drawn, the downloads and the history stay', async ({ page }) => {
  await openApp(page);
  // Drawing the confusion matrix throws (emptying it still works).
  await page.locator('#confusion').evaluate((box) => {
    const empty = box.replaceChildren.bind(box);
    box.replaceChildren = (...nodes: (Node | string)[]) => {
      if (nodes.length > 0) throw new Error('injected: cannot draw the matrix');
      empty();
    };
  });
  await configure(page, { dataset: 'iris', epochs: '3', device: 'gpu' });
  await page.click('#train');
  const status = page.locator('#status');
  await expect(status).toHaveAttribute('data-state', 'error', { timeout: 150_000 });
  await expect(status).toContainText('Trained: 3 epochs on');
  await expect(status).toContainText('but showing the results failed');
  await expect(page.locator('#error')).toContainText('injected: cannot draw the matrix');
  // Not half a state: the results are on screen as far as they go, with Verify beside them.
  await expect(page.locator('#results')).toBeVisible();
  await expect(page.locator('#test-accuracy')).toContainText('Test accuracy');
  await expect(page.locator('#report-table tbody tr')).toHaveCount(3 + 3);
  await expect(page.locator('#history-rows tr')).toHaveCount(1);
  await expect(page.locator('#verify')).toBeEnabled();
  const [manifestDownload] = await Promise.all([page.waitForEvent('download'), page.click('#download-manifest')]);
  expect(JSON.parse(await readFile((await manifestDownload.path())!, 'utf8')).epoch).toBe(3);
});

/** Chooses a CSV through the file input whose File has `size` and `text` faked (a file over 512 MiB cannot be made here). */
function chooseFakeFile(page: Page, name: string, fake: { size?: number; text?: 'empty' | 'reject' }): Promise<void> {
  return page.locator('#csv-file').evaluate((input: HTMLInputElement, { name, fake }) => {
    const file = new File(['f1,f2,label\n1,2,a\n3,4,b\n'], name, { type: 'text/csv' });
    const w = window as unknown as { __textCalls: number };
    w.__textCalls = 0;
    if (fake.size !== undefined) Object.defineProperty(file, 'size', { value: fake.size });
    if (fake.text) {
      Object.defineProperty(file, 'text', {
        value: () => {
          w.__textCalls++;
          // Chromium's File.text() for a file longer than V8's longest string; or a file gone since it was chosen.
          return fake.text === 'empty' ? Promise.resolve('') : Promise.reject(new DOMException('The requested file could not be read.', 'NotReadableError'));
        },
      });
    }
    Object.defineProperty(input, 'files', { value: [file], configurable: true });
    input.dispatchEvent(new Event('change'));
  }, { name, fake });
}

test('a CSV too large to read as text, or one that cannot be read, says so; Ready is not claimed beside it', async ({ page }) => {
  await openApp(page);
  const error = page.locator('#data-error');
  const status = page.locator('#status');
  // Over 2^29 − 24 bytes: refused by its size, before reading (Chromium would read it as '').
  await chooseFakeFile(page, 'huge.csv', { size: 540_000_000, text: 'empty' });
  await expect(error).toHaveText('huge.csv is 540 MB; the browser cannot read a CSV over about 512 MiB as text: use a smaller file (fewer rows or columns).');
  expect(await page.evaluate(() => (window as unknown as { __textCalls: number }).__textCalls), 'File.text() calls').toBe(0);
  await expect(page.locator('#dataset')).toHaveValue('csv');
  await expect(page.locator('#dataset option[value="csv"]')).toHaveText('CSV: huge.csv (invalid)');
  await expect(page.locator('#train')).toBeDisabled();
  await expect(status).toHaveText('No valid dataset: fix the file or choose another (see the message under Data).');

  // A file read as '' although it is not empty: the same, not "the text is empty".
  await chooseFakeFile(page, 'edge.csv', { text: 'empty' });
  await expect(error).toContainText('edge.csv is 24 bytes; the browser cannot read a CSV over about 512 MiB as text');

  // Reading fails: the error shows, and nothing stays waiting for the read.
  await chooseFakeFile(page, 'gone.csv', { text: 'reject' });
  await expect(error).toHaveText('cannot read gone.csv: The requested file could not be read.');
  await page.selectOption('#dataset', 'iris');
  await expect(error).toBeHidden();
  await expect(page.locator('#train')).toBeEnabled();
  await expect(status).toHaveText('Ready.');
});

test('a big CSV says it is being read before the page blocks to parse it, on a label column change too', async ({ page }) => {
  await openApp(page);
  // About 25 MB: 60 features of 60,000 rows.
  const features = 60;
  const lines = [[...Array(features).keys()].map((j) => `f${j}`).concat('label').join(',')];
  for (let i = 0; i < 60_000; i++) lines.push([...Array(features).keys()].map((j) => ((i * 31 + j * 17) % 1000) / 1000).join(',') + `,c${i % 5}`);
  const buffer = Buffer.from(lines.join('\n') + '\n');
  const mb = (buffer.length / 1e6).toFixed(1);
  await watchStatus(page);
  await page.setInputFiles('#csv-file', { name: 'big.csv', mimeType: 'text/csv', buffer });
  await expect(page.locator('#dataset-info')).toContainText('big.csv: 60000 rows', { timeout: 60_000 });
  let seen = await statusSeen(page);
  const reading = seen.indexOf(`Reading big.csv (${mb} MB)…`);
  expect(reading, `status texts: ${JSON.stringify(seen)}`).toBeGreaterThanOrEqual(0);
  expect(reading).toBeLessThan(seen.findIndex((t) => t.startsWith('info: big.csv')));
  await expect(page.locator('#status')).toHaveText('Ready.');

  // Another label column: parsed again, said first.
  const before = seen.length;
  await page.fill('#label-column', 'label');
  await page.locator('#label-column').dispatchEvent('change');
  await expect(page.locator('#dataset-info')).toContainText('big.csv: 60000 rows, 60 features', { timeout: 60_000 });
  await expect.poll(async () => (await statusSeen(page)).slice(before).some((t) => t.startsWith('info: '))).toBe(true);
  seen = (await statusSeen(page)).slice(before);
  const again = seen.indexOf(`Reading big.csv (${mb} MB) again, label column "label"…`);
  expect(again, `status texts: ${JSON.stringify(seen)}`).toBeGreaterThanOrEqual(0);
  expect(again).toBeLessThan(seen.findIndex((t) => t.startsWith('info: ')));
});

test('a CSV dropped while training runs is not taken, and the page says so', async ({ page }) => {
  await openApp(page);
  await configure(page, { dataset: 'iris', epochs: '100000', device: 'cpu' });
  await page.click('#train');
  await expect.poll(() => page.evaluate(() => window.__altreg!.history.length)).toBeGreaterThan(0);
  const drop = () =>
    page.locator('#drop-zone').evaluate((zone) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File(['a,b,label\n1,2,x\n3,4,y\n5,6,x\n6,7,y\n1,2,x\n3,4,y\n'], 'dropped.csv', { type: 'text/csv' }));
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    });
  await drop();
  const note = page.locator('#data-note');
  await expect(note).toHaveText('dropped.csv was not loaded: the dataset cannot change while training runs: drop it again once the run has ended.');
  await expect(page.locator('#dataset-info')).toContainText('iris');
  await page.click('#stop');
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'stopped', { timeout: 60_000 });
  await drop();
  await expect(page.locator('#dataset-info')).toContainText('dropped.csv: 6 rows');
  await expect(note).toBeHidden();
});

test('a long epoch shows its steps in the status, in Train and in Compare (CPU reference trainer)', async ({ page }) => {
  await openApp(page);
  const rows = Array.from({ length: 4000 }, (_, i) => `${Array.from({ length: 20 }, (_, f) => ((i * 7 + f * 13) % 17) / 17).join(',')},c${i % 3}`);
  const header = `${Array.from({ length: 20 }, (_, f) => `f${f}`).join(',')},label`;
  await page.setInputFiles('#csv-file', { name: 'long.csv', mimeType: 'text/csv', buffer: Buffer.from([header, ...rows].join('\n') + '\n') });
  await expect(page.locator('#dataset-info')).toContainText('long.csv: 4000 rows, 20 features, 3 classes');
  await configure(page, { epochs: '1', hidden: '32', 'batch-size': '1', folds: '2', 'compare-schedules': 'none, constant', device: 'cpu' });
  await watchStatus(page);
  await page.click('#train');
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  await page.click('#compare');
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  const seen = await statusSeen(page);
  expect(seen.some((s) => /^Training on the CPU reference trainer: epoch 1\/1 · step \d+\/\d+$/.test(s)), seen.join('\n')).toBe(true);
  expect(seen.some((s) => /^Comparing 2 schedules × 2 folds on the CPU reference trainer: epoch 1\/1 · step \d+\/\d+$/.test(s)), seen.join('\n')).toBe(true);
});
