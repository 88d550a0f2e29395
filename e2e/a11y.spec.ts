// Accessibility of the training app (web/index.html): axe-core's WCAG 2 A/AA rules in the page's
// main states, a run and a comparison driven by the keyboard alone (Tab, Enter, Space) with what
// the live regions say checked, the form's errors as a screen reader meets them, text
// alternatives of the mask grid and the charts, contrast that does not hang on a cell's shade,
// the heading outline, and a narrow window. Every wait is on explicit page state; runs are short.
import AxeBuilder from '@axe-core/playwright';
import { readFile } from 'node:fs/promises';
import { expect, test, type Locator, type Page } from '@playwright/test';

async function openApp(page: Page): Promise<void> {
  await page.goto('/');
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'ready');
  await expect(page.locator('#train')).toBeEnabled();
}

/** axe-core's WCAG 2.0–2.2 A and AA violations on the page as it is, one line per rule with the first nodes. */
async function axeViolations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
  return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.length} nodes: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')})`);
}

/** What has focus: its id, or its tag and text (links have no id). */
function focused(page: Page): Promise<string> {
  return page.evaluate(() => {
    const a = document.activeElement;
    if (!a || a === document.body) return 'body';
    return a.id || `${a.tagName.toLowerCase()}:${(a.textContent ?? '').trim()}`;
  });
}

/** Presses Tab until `target` (as `focused` names it) has focus; returns what was focused on the way, `target` last. */
async function tabTo(page: Page, target: string, onEach?: (name: string) => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press('Tab');
    const name = await focused(page);
    seen.push(name);
    if (onEach) await onEach(name);
    if (name === target) return seen;
  }
  throw new Error(`Tab never reached ${target}; it went through ${seen.join(', ')}`);
}

/** Types `text` into the focused field by keyboard, replacing what it held. */
async function typeOver(page: Page, text: string): Promise<void> {
  await page.keyboard.press('Control+A');
  await page.keyboard.type(text);
}

/**
 * Starts recording what the page's live regions (role status, alert or log, or aria-live) would
 * say: after each batch of changes, every visible region changed and its whole text.
 */
async function recordAnnouncements(page: Page): Promise<void> {
  await page.evaluate(() => {
    const said: { id: string; text: string }[] = [];
    (window as unknown as { __said: typeof said }).__said = said;
    const live = '[role="status"], [role="alert"], [role="log"], [aria-live]:not([aria-live="off"])';
    new MutationObserver((mutations) => {
      const regions = new Set<Element>();
      for (const m of mutations) {
        const node = m.target instanceof Element ? m.target : m.target.parentElement;
        const region = node?.closest(live);
        if (region) regions.add(region);
      }
      for (const r of regions) if (!r.closest('[hidden]')) said.push({ id: r.id, text: (r.textContent ?? '').trim() });
    }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['hidden'] });
  });
}

/**
 * Starts recording where the focus is each time the phase (#status's data-state) changes, and
 * whether the form and Train are off then, read once the change's task is over (as a user meets
 * it), however short the phase.
 */
async function recordFocus(page: Page): Promise<void> {
  await page.evaluate(() => {
    const log: string[] = [];
    (window as unknown as { __focusLog: string[] }).__focusLog = log;
    const status = document.getElementById('status')!;
    new MutationObserver(() => {
      const a = document.activeElement;
      const off = (id: string) => (document.getElementById(id) as HTMLInputElement).matches(':disabled');
      log.push(`${status.dataset.state}: ${!a || a === document.body ? 'body' : a.id}${off('epochs') && off('train') ? ' (form off)' : ''}`);
    }).observe(status, { attributes: true, attributeFilter: ['data-state'] });
  });
}

function focusLog(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __focusLog: string[] }).__focusLog.splice(0));
}

function announcements(page: Page): Promise<{ id: string; text: string }[]> {
  return page.evaluate(() => (window as unknown as { __said: { id: string; text: string }[] }).__said.splice(0));
}

/** The focus indicator's look: outline and box shadow. */
function ring(target: Locator): Promise<string> {
  return target.evaluate((e) => {
    const s = getComputedStyle(e);
    return `${s.outlineStyle} ${s.outlineWidth} ${s.outlineColor} ${s.outlineOffset} | ${s.boxShadow}`;
  });
}

/** WCAG 2's contrast ratio of two sRGB colours given as CSS rgb()/rgba() text, a translucent one over the white page. */
function contrast(a: string, b: string): number {
  const luminance = (css: string) => {
    const [red, green, blue, alpha = 1] = css.match(/[\d.]+/g)!.map(Number);
    const [r, g, bl] = [red, green, blue].map((v) => {
      const c = (255 - alpha * (255 - v)) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

test('axe finds no WCAG 2 A/AA violation at start, with input errors, after a run and its verification, and after a comparison', async ({ page }) => {
  await openApp(page);
  expect(await axeViolations(page), 'at start').toEqual([]);

  await page.fill('#epochs', '0');
  await page.fill('#folds', '25');
  await expect(page.locator('#config-error')).toBeVisible();
  await expect(page.locator('#compare-error')).toBeVisible();
  expect(await axeViolations(page), 'with input errors').toEqual([]);

  await page.fill('#epochs', '4');
  await page.fill('#folds', '2');
  await page.fill('#compare-schedules', 'none, constant');
  await page.click('#train');
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'done', { timeout: 60_000 });
  await page.click('#verify');
  await expect(page.locator('#verify-result')).toHaveAttribute('data-state', 'done', { timeout: 60_000 });
  expect(await axeViolations(page), 'after a run and its verification').toEqual([]);

  await page.click('#compare');
  await expect(page.locator('#comparison')).toBeVisible({ timeout: 60_000 });
  expect(await axeViolations(page), 'after a comparison').toEqual([]);
});

test('keyboard only: Tab follows the form, Enter trains, focus never drops to the page, progress is announced a few times, and the results are announced and reached', async ({ page }) => {
  await openApp(page);
  await recordAnnouncements(page);
  await recordFocus(page);
  const epochs = 20;
  const rings: Record<string, string> = {};
  const order = await tabTo(page, 'train', async (name) => {
    if (name === 'epochs') await typeOver(page, String(epochs));
    if (name !== 'body' && !name.includes(':')) rings[name] = await ring(page.locator(`#${name}`));
  });
  expect(order).toEqual([
    'a:kernel benchmark',
    'a:kernel self-check',
    'a:compare schedules',
    'dataset',
    'csv-file',
    'test-fraction',
    'hidden',
    'activation',
    'lr',
    'epochs',
    'batch-size',
    'seed',
    'device',
    'lambda',
    'mode',
    'convention',
    'targets',
    'schedule-kind',
    'folds',
    'compare-schedules',
    'add-matched',
    'train',
  ]);
  // Every control shows where the focus is: its look focused differs from its look once Tab has left it.
  await page.keyboard.press('Tab');
  expect(await focused(page)).toBe('compare');
  for (const [id, look] of Object.entries(rings)) expect(await ring(page.locator(`#${id}`)), `#${id} focused and not`).not.toBe(look);
  await page.keyboard.press('Shift+Tab');
  expect(await focused(page)).toBe('train');
  await announcements(page);

  await page.keyboard.press('Enter');
  // The form is off while it trains (the fields and Train say so), and the focus is on Stop, not
  // dropped to the page with the disabled Train; once done, it is back on Train.
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'done', { timeout: 60_000 });
  expect(await focusLog(page)).toEqual(['training: stop (form off)', 'done: train']);
  expect(await focused(page)).toBe('train');

  const s = await page.evaluate(() => window.__altreg!);
  expect(s.history).toHaveLength(epochs);
  const said = await announcements(page);
  const texts = said.map((a) => a.text);
  // Polite and few: the start, a quarter's progress at most 3 times, the end; never a line per epoch or step.
  expect(said.filter((a) => /epoch \d+\/\d+/.test(a.text)), texts.join('\n')).toEqual([]);
  expect(said.length, texts.join('\n')).toBeLessThanOrEqual(5);
  expect(texts[0]).toMatch(/^Training on WebGPU/);
  for (const t of texts.slice(1, -1)) expect(t).toMatch(/^Training: (5|10|15) of 20 epochs done\.$/);
  // The result is said: the epochs and the test accuracy on screen.
  const done = /^Done: 20 epochs on WebGPU .* in [\d.]+ m?s; test accuracy (\d\.\d{4})\.$/.exec(texts[texts.length - 1]);
  expect(done, texts.join('\n')).not.toBeNull();
  expect(Number(done![1])).toBeCloseTo(s.testAccuracy!, 4);
  const liveId = said[said.length - 1].id;
  await expect(page.locator(`#${liveId}`)).toHaveAttribute('role', 'status');

  // The results are reached by Tab from Train, and the download works from the keyboard.
  await tabTo(page, 'download-results');
  const [download] = await Promise.all([page.waitForEvent('download'), page.keyboard.press('Enter')]);
  expect(download.suggestedFilename()).toBe('altreg-results-iris.json');
  const results = JSON.parse(await readFile((await download.path())!, 'utf8'));
  expect(results.test.accuracy).toBe(s.testAccuracy);
});

test('keyboard only: Space runs Compare, announced when done, its text reached; Stop from the keyboard keeps the focus on the page', async ({ page }) => {
  await openApp(page);
  await recordAnnouncements(page);
  await tabTo(page, 'epochs');
  await typeOver(page, '3');
  await tabTo(page, 'folds');
  await typeOver(page, '2');
  await page.keyboard.press('Tab');
  expect(await focused(page)).toBe('compare-schedules');
  await typeOver(page, 'none, constant');
  await tabTo(page, 'compare');
  await announcements(page);
  await recordFocus(page);
  await page.keyboard.press('Space');
  await expect(page.locator('#comparison')).toBeVisible({ timeout: 60_000 });
  expect(await focusLog(page)).toEqual(['comparing: stop (form off)', 'done: compare']);
  const texts = (await announcements(page)).map((a) => a.text);
  expect(texts.length, texts.join('\n')).toBeLessThanOrEqual(5);
  expect(texts[texts.length - 1]).toMatch(/^Comparison done: 2 schedules × 2 folds on WebGPU/);
  // The comparison's text is reached by Tab and opened with Enter.
  await tabTo(page, 'summary:As text (to copy)');
  await page.keyboard.press('Enter');
  await expect(page.locator('#compare-text')).toBeVisible();
  await expect(page.locator('#compare-text')).toContainText('constant');

  // A long run stopped from the keyboard: Stop turns off at once; the focus goes where it is read, not to the page.
  await page.locator('#epochs').focus();
  await typeOver(page, '5000');
  await tabTo(page, 'train');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => window.__altreg!.history.length >= 2, undefined, { timeout: 60_000 });
  expect(await focused(page)).toBe('stop');
  await page.keyboard.press('Enter');
  // Stop is off at once (the job ends after its epoch): the focus moves to the status, which says
  // so, and once stopped back to Train.
  await expect(page.locator('#stop')).toBeDisabled();
  expect(['status', 'train']).toContain(await focused(page));
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'stopped', { timeout: 60_000 });
  expect(await focusLog(page)).toEqual(['training: stop (form off)', 'stopped: train']);
  const said = (await announcements(page)).map((a) => a.text);
  expect(said).toContain('Stopping… (after the current epoch)');
  expect(said[said.length - 1]).toMatch(/^Stopped by user after \d+ of 5000 epochs\.$/);
});

test('form errors: the field is marked invalid and described by its message (the field and the valid range), said once, and shows its focus', async ({ page }) => {
  await openApp(page);
  await recordAnnouncements(page);
  const epochs = page.locator('#epochs');
  await page.fill('#epochs', '0');
  await expect(epochs).toHaveAttribute('aria-invalid', 'true');
  await expect(epochs).toHaveAccessibleDescription(/epochs: "0" is not valid; expected an integer from 1 to 100000/);
  const said = await announcements(page);
  expect(said.some((a) => a.id === 'config-error' && a.text.includes('epochs: "0" is not valid; expected an integer from 1 to 100000'))).toBe(true);

  // Compare's own field: its own message.
  const folds = page.locator('#folds');
  await page.fill('#folds', '25');
  await expect(folds).toHaveAttribute('aria-invalid', 'true');
  await expect(folds).toHaveAccessibleDescription(/folds: "25" is not valid; expected an integer from 2 to 20/);
  await expect(epochs).not.toHaveAccessibleDescription(/folds:/);

  // Fixed: no longer invalid, no longer described by an error.
  await page.fill('#epochs', '4');
  await expect(epochs).not.toHaveAttribute('aria-invalid', 'true');
  await expect(epochs).not.toHaveAccessibleDescription(/not valid/);
  await page.fill('#folds', '2');
  await expect(folds).not.toHaveAttribute('aria-invalid', 'true');

  // Hints are read with their field.
  await expect(page.locator('#test-fraction')).toHaveAccessibleDescription(/0\.05 to 0\.9 of the rows are held out/);
  await expect(page.locator('#hidden')).toHaveAccessibleDescription(/Widths 1 to 4096/);

  // A standing error is not said again at every key pressed in another field.
  await page.fill('#lr', '0');
  await expect(page.locator('#config-error')).toContainText('learning rate: "0" is not valid; expected a number in (0, 10]');
  await announcements(page);
  await page.locator('#seed').focus();
  await typeOver(page, '123');
  await expect(page.locator('#seed')).toHaveValue('123');
  expect((await announcements(page)).filter((a) => a.id === 'config-error')).toEqual([]);

  // An invalid field still shows where the focus is (its red mark is no focus indicator).
  await page.locator('#activation').focus();
  await page.keyboard.press('Tab');
  expect(await focused(page)).toBe('lr');
  const lr = page.locator('#lr');
  await expect(lr).toHaveAttribute('aria-invalid', 'true');
  const withFocus = await ring(lr);
  // An outline of its own colour, not the red of the mark moved a little.
  const outline = withFocus.split(' | ')[0];
  expect(outline).not.toMatch(/^none/);
  expect(outline).not.toContain('rgb(207, 34, 46)');
  await page.keyboard.press('Tab');
  expect(await ring(lr)).not.toBe(withFocus);
});

test('text alternatives: the masks as text (planned and applied), each chart captioned with its numbers, series told apart without colour', async ({ page }) => {
  await openApp(page);
  // alternate over T = 2 kernels, 8 epochs (0-based e): odd e drops kernel ((e − 1) / 2) mod 2, so
  // dense_0 is off in epochs 1 and 5, dense_1 in 3 and 7 (hand-checked against the README's table).
  await page.fill('#epochs', '8');
  await expect(page.locator('#mask-grid').getByRole('img', { name: 'Penalty masks of alternate, 2 tensors × 8 epochs: the masks as text follow' })).toBeVisible();
  // The text follows the grid in the Tab order, and opens from the keyboard.
  await page.locator('#mask-grid').focus();
  await page.keyboard.press('Tab');
  expect(await focused(page)).toBe('summary:Masks as text');
  await page.keyboard.press('Enter');
  const text = page.locator('#mask-text');
  await expect(text).toHaveAttribute('open', '');
  await expect(text).toContainText('dense_0/kernel: on in 6 of 8 epochs, off in epochs 1, 5');
  await expect(text).toContainText('dense_1/kernel: on in 6 of 8 epochs, off in epochs 3, 7');
  await expect(text).toContainText('epochs counted from 0');

  await page.click('#train');
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'done', { timeout: 60_000 });
  await expect(text).toContainText('Applied in 8 of 8 epochs, all as planned.');

  // Each chart's caption holds its series' first and last values (4 significant digits).
  const h = await page.evaluate(() => window.__altreg!.history);
  const [first, last] = [h[0], h[h.length - 1]];
  const expected: Record<string, [string, number, number][]> = {
    'chart-loss': [['train', first.loss, last.loss], ['validation', first.valLoss!, last.valLoss!]],
    'chart-accuracy': [['train', first.trainAccuracy!, last.trainAccuracy!], ['validation', first.valAccuracy!, last.valAccuracy!]],
    'chart-penalty': [['penalty', first.penalty, last.penalty]],
    'chart-norms': Object.keys(first.weightNorms).map((t) => [t, first.weightNorms[t], last.weightNorms[t]] as [string, number, number]),
  };
  for (const [id, series] of Object.entries(expected)) {
    const caption = (await page.locator(`#${id} figcaption`).textContent()) ?? '';
    expect(caption, id).toMatch(/^Over 8 epochs: /);
    for (const [name, a, b] of series) {
      const number = '(-?\\d+(?:\\.\\d+)?(?:e[-+]\\d+)?)';
      const m = new RegExp(`${name.replace(/[/]/g, '\\/')} ${number} → ${number}`).exec(caption);
      expect(m, `${id}: ${name} in "${caption}"`).not.toBeNull();
      for (const [shown, value] of [[Number(m![1]), a], [Number(m![2]), b]]) expect(Math.abs(shown - value), `${id} ${name}`).toBeLessThanOrEqual(5e-4 * Math.abs(value) + 1e-12);
    }
  }
  // Train and validation differ in their line's dash, and so do their legend's markers.
  for (const id of ['chart-loss', 'chart-accuracy']) {
    const styles = await page.locator(`#${id} .u-legend .u-series .u-marker`).evaluateAll((all) => all.map((m) => getComputedStyle(m).borderTopStyle));
    // The epoch (no marker), train, validation.
    expect(styles, id).toEqual(['none', 'solid', 'dashed']);
  }
});

test('colour: on and off mask cells, and confusion matrix text on every shade, have enough contrast', async ({ page }) => {
  await openApp(page);
  await page.fill('#epochs', '4');
  // On and off apart by lightness (WCAG 1.4.11: 3:1), not by hue alone; planned and applied too.
  const fill = (selector: string) => page.locator(selector).first().evaluate((c) => getComputedStyle(c).backgroundColor);
  const [plannedOn, plannedOff] = [await fill('#mask-grid .cell.on'), await fill('#mask-grid .cell.off')];
  expect(contrast(plannedOn, plannedOff), `planned on ${plannedOn}, off ${plannedOff}`).toBeGreaterThanOrEqual(3);
  await page.click('#train');
  await expect(page.locator('#status')).toHaveAttribute('data-state', 'done', { timeout: 60_000 });
  const [appliedOn, appliedOff] = [await fill('#mask-grid .cell.applied.on'), await fill('#mask-grid .cell.applied.off')];
  expect(contrast(appliedOn, appliedOff), `applied on ${appliedOn}, off ${appliedOff}`).toBeGreaterThanOrEqual(3);

  // A confusion matrix whose counts run through every shade (0 to 20): each cell's text on its background.
  const cells = await page.evaluate(async () => {
    const url = performance.getEntriesByType('resource').map((e) => e.name).find((n) => new URL(n).pathname.endsWith('/app/report.ts'));
    const { renderConfusion } = await import(url!);
    const box = document.createElement('div');
    document.body.append(box);
    const counts = Uint32Array.from([20, 1, 3, 5, 7, 19, 11, 13, 15, 17, 9, 2, 4, 6, 8, 10, 12, 14, 16, 18, 0, 1, 2, 3, 4]);
    renderConfusion(box, { confusion: counts }, ['a', 'b', 'c', 'd', 'e']);
    const out = Array.from(box.querySelectorAll('td'), (td) => ({ count: td.textContent, color: getComputedStyle(td).color, background: getComputedStyle(td).backgroundColor }));
    box.remove();
    return out;
  });
  expect(cells).toHaveLength(25);
  for (const c of cells) expect(contrast(c.color, c.background), `count ${c.count}: ${c.color} on ${c.background}`).toBeGreaterThanOrEqual(4.5);
});

test('headings outline the page, the form has one; every control is named (the file input for what it takes)', async ({ page }) => {
  await openApp(page);
  const headings = await page.locator('h1, h2, h3, h4').evaluateAll((all) =>
    all.filter((h) => (h as HTMLElement).offsetParent !== null).map((h) => `${h.tagName.toLowerCase()} ${h.textContent?.trim().replace(/\s+/g, ' ')}`),
  );
  expect(headings).toEqual(['h1 altreg train an MLP on WebGPU with scheduled L2 penalties', 'h2 Settings', 'h2 Training curves', "h2 Penalty masks of Train's schedule", 'h2 Run history']);
  await expect(page.getByRole('form', { name: 'Settings' })).toBeVisible();
  await expect(page.locator('#csv-file')).toHaveAccessibleName('Open a CSV file');
  for (const control of await page.locator('input:visible, select:visible, textarea:visible, button:visible').all()) await expect(control).toHaveAccessibleName(/\S/);
});

test('at 400 and 320 CSS px (200 % and 400 % zoom of a narrow laptop) the form fits without scrolling sideways, errors included', async ({ page }) => {
  for (const width of [400, 320]) {
    await page.setViewportSize({ width, height: 800 });
    await openApp(page);
    await page.fill('#test-fraction', '0.95');
    await page.fill('#folds', '25');
    await expect(page.locator('#config-error')).toBeVisible();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow, `page scrolls sideways at ${width} px`).toBe(0);
    const outside = await page.locator('#config input, #config select, #config textarea, #config button, #config .error').evaluateAll((all, w) =>
      all.filter((e) => e.getBoundingClientRect().right > w || e.getBoundingClientRect().left < 0).map((e) => e.id),
    width);
    expect(outside, `controls cut off at ${width} px`).toEqual([]);
    expect(await axeViolations(page), `at ${width} px`).toEqual([]);
  }
});
