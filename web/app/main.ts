// The training app (web/index.html): wires the form, the data, the charts, the mask grid, the
// results, the schedule comparison and the run history together. It finds the page's WebGPU
// device once at start; where there is none, it says so and trains on the CPU reference trainer
// instead.

import 'uplot/dist/uPlot.min.css';
import './app.css';
import { CsvError, mlpLayout, requestGpu, ScheduleError, SplitError, type DatasetName, type Gpu } from '../../src/index.js';
import { TrainingCharts } from './charts.js';
import { comparisonText, describeSetup, experimentOptions, explainComparison, renderComparison, ScheduleComparison, missingControlsText, watchOverflow, withMatchedControls } from './compare.js';
import { COMPARE_FIELDS, CONFIG_FIELDS, ConfigError, readCompare, readConfig, readShared, syncScheduleParam, type AppConfig, type CompareConfig, type SharedConfig } from './config.js';
import { describeDataset, loadShipped, parseCsvFile, prepareData, tooFewRows, tooLargeForText, tooLargeMessage, type DataSource } from './data.js';
import { byId, describedBy, duration, el, fileSize, fmt, nextPaint, plural, reveal, showMessage } from './dom.js';
import { RunHistory } from './history.js';
import { MaskGrid, previewMasks } from './mask-grid.js';
import { renderConfusion, renderReport, testReport } from './report.js';
import { downloadCheckpoint, downloadResults, type FinishedRun } from './results.js';
import { initialSnapshot, type AppPhase } from './state.js';
import { compareRuns, describeComparison, StopRequested, Training, trainOptions } from './training.js';

const snapshot = initialSnapshot();
window.__altreg = snapshot;

const ui = {
  form: byId<HTMLFormElement>('config'),
  fieldsets: document.querySelectorAll<HTMLFieldSetElement>('#config fieldset'),
  dataset: byId<HTMLSelectElement>('dataset'),
  csvFile: byId<HTMLInputElement>('csv-file'),
  dropZone: byId('drop-zone'),
  labelColumn: byId<HTMLInputElement>('label-column'),
  datasetInfo: byId('dataset-info'),
  dataError: byId('data-error'),
  dataNote: byId('data-note'),
  configError: byId('config-error'),
  compareError: byId('compare-error'),
  device: byId<HTMLSelectElement>('device'),
  train: byId<HTMLButtonElement>('train'),
  compare: byId<HTMLButtonElement>('compare'),
  stop: byId<HTMLButtonElement>('stop'),
  verify: byId<HTMLButtonElement>('verify'),
  adapter: byId('adapter'),
  gpuWarning: byId('gpu-warning'),
  status: byId('status'),
  announce: byId('announce'),
  error: byId('error'),
  results: byId('results'),
  testAccuracy: byId('test-accuracy'),
  confusion: byId('confusion'),
  report: byId('report'),
  reportText: byId('report-text'),
  verifyResult: byId('verify-result'),
  comparison: byId('comparison'),
};

const charts = new TrainingCharts(byId('charts'));
const grid = new MaskGrid(byId('mask-grid'), byId('mask-note'), byId<HTMLDetailsElement>('mask-text'));
const runs = new RunHistory(byId<HTMLTableSectionElement>('history-rows'), byId('history-chart'));
watchOverflow(byId('compare-result'), byId('compare-scroll-note'));

let gpu: Gpu | null = null;
/** The dataset in use; null while none is valid (e.g. after a bad CSV file). */
let source: DataSource | null = null;
/**
 * Bumped by every dataset choice: a load that finishes after a later choice is dropped, and
 * while one is pending Train and Compare are off (a run would start on the previous dataset).
 */
let loads = 0;
let loading = false;
/**
 * The last CSV file chosen, kept to re-read it with another label column: its text, or (text
 * null) why it could not be read as text.
 */
let csvFile: { name: string; size: number; text: string | null; error: string | null } | null = null;
/** From this size on, reading and parsing a CSV file takes long enough to say so first (a 94 MB file: seconds). */
const SLOW_FILE_BYTES = 1_000_000;
/** The training, verification or comparison that Stop ends; null while none runs. */
let job: Training | ScheduleComparison | null = null;
/** The button that started the job (Train, Compare, Verify): the focus goes back to it when the job ends. */
let starter: HTMLButtonElement | null = null;
/** The finished run whose results are on screen; null while none are (Verify needs one). */
let finished: FinishedRun | null = null;
/**
 * The form as checkForm last read it; each part is null while one of its fields is wrong. Train
 * needs `train`; Compare needs `shared` and `compare` (it ignores Train's schedule and test fraction).
 */
const form: { shared: SharedConfig | null; train: AppConfig | null; compare: CompareConfig | null } = { shared: null, train: null, compare: null };

// ---- phase and buttons ----

function setPhase(phase: AppPhase, text?: string): void {
  const focused = document.activeElement;
  snapshot.phase = phase;
  ui.status.dataset.state = phase;
  delete ui.status.dataset.verdict;
  if (text !== undefined) {
    ui.status.textContent = text;
    announce(text);
  }
  const running = phase === 'training' || phase === 'verifying' || phase === 'comparing';
  ui.fieldsets.forEach((f) => (f.disabled = running));
  ui.stop.disabled = !running;
  refreshButtons();
  // A control turned off with the focus on it drops the focus to the page: a screen reader says
  // nothing and Tab starts over. It goes to Stop while a job runs, back to the job's button after
  // (also from the status, where Stop leaves it).
  const dropped = focused instanceof HTMLElement && (focused.matches(':disabled') || (!running && focused === ui.status));
  if (dropped) (running ? ui.stop : starter && !starter.disabled ? starter : ui.status).focus();
  if (running) reveal(ui.status);
}

/** Says `text` to screen readers, politely (#announce): the phases and a few milestones, never every epoch. */
function announce(text: string): void {
  ui.announce.textContent = text;
}

/** A running job's progress in the status line; once Stop was pressed, its note stays until the job ends. */
function progress(text: string): void {
  if (!job?.stopRequested) ui.status.textContent = text;
}

/**
 * Announces `what` when epoch `epoch` (0-based) of `epochs` completes a quarter of them: three
 * times a run at most, whatever its length. The last epoch says nothing: the end is announced.
 */
function milestone(what: string, epoch: number, epochs: number): void {
  const quarter = (e: number) => Math.floor((4 * e) / epochs);
  if (epoch + 1 < epochs && quarter(epoch + 1) > quarter(epoch) && !job?.stopRequested) announce(`${what}: ${epoch + 1} of ${epochs} epochs done.`);
}

function busy(): boolean {
  return snapshot.phase === 'training' || snapshot.phase === 'verifying' || snapshot.phase === 'comparing' || snapshot.phase === 'init';
}

function readyText(): string {
  return gpu ? 'Ready.' : 'Ready (CPU reference trainer).';
}

/**
 * Each button needs a dataset (not one still loading) and valid values in the fields it uses (see
 * `form`); Verify a finished GPU run on screen, and no load pending (the load would clear that run).
 */
function refreshButtons(): void {
  const off = busy() || loading || source === null;
  ui.train.disabled = off || !form.train;
  ui.compare.disabled = off || !form.shared || !form.compare;
  ui.verify.disabled = busy() || loading || !finished || finished.run.device !== 'gpu';
}

function fail(error: unknown): void {
  const e = error as Error;
  const message = e instanceof Error ? `${e.name === 'Error' ? '' : e.name + ': '}${e.message}` : String(error);
  snapshot.error = message;
  showMessage(ui.error, message);
  reveal(ui.error);
}

// ---- WebGPU ----

async function findGpu(): Promise<void> {
  const nav = navigator as Navigator & { gpu?: GPU };
  let reason: string | null = null;
  if (!nav.gpu) {
    reason = 'this browser has no navigator.gpu (WebGPU is off, unsupported, or the page is not in a secure context)';
  } else {
    try {
      gpu = await requestGpu();
    } catch (error) {
      reason = (error as Error).message;
    }
  }
  if (gpu) {
    const a = gpu.adapter;
    snapshot.adapter = a;
    ui.adapter.textContent = `WebGPU adapter: ${gpu.name}${a.architecture ? ` · architecture ${a.architecture}` : ''}${a.description ? ` · ${a.description}` : ''}`;
    ui.adapter.dataset.backend = a.backend;
    void gpu.device.lost.then((info) => gpuGone(`the WebGPU device was lost (${info.reason}: ${info.message})`));
  } else {
    gpuGone(reason ?? 'unknown reason');
  }
}

function gpuGone(reason: string): void {
  gpu = null;
  snapshot.gpuUnavailable = reason;
  ui.adapter.textContent = 'WebGPU adapter: none';
  ui.adapter.dataset.backend = 'none';
  showMessage(ui.gpuWarning, `WebGPU is not available: ${reason}. Training runs on the CPU reference trainer instead (same math, slower).`);
  const gpuOption = ui.device.querySelector<HTMLOptionElement>('option[value="gpu"]')!;
  gpuOption.disabled = true;
  ui.device.value = 'cpu';
}

// ---- data ----

/** Takes the run panel back to empty: charts, test-set results, verification and error. */
function clearRun(): void {
  charts.clear();
  finished = null;
  ui.results.hidden = true;
  // Emptied, so that a run whose results fail to show halfway never shows the last run's beside its own.
  ui.confusion.replaceChildren();
  ui.report.replaceChildren();
  ui.reportText.textContent = '';
  showMessage(ui.verifyResult, null);
  ui.verifyResult.dataset.state = 'none';
  showMessage(ui.error, null);
  Object.assign(snapshot, { history: [], testRows: null, testAccuracy: null, confusion: null, verification: null, error: null });
}

/** Hides the schedule comparison on screen (a new one starts, or the dataset changed). */
function clearComparison(): void {
  ui.comparison.hidden = true;
  Object.assign(snapshot, { comparison: null, compareProgress: null });
}

/** Makes `next` the dataset (null: none is valid); what was shown of another dataset goes. */
function setSource(next: DataSource | null, error: string | null): void {
  source = next;
  showMessage(ui.dataError, error);
  // The file input and the label column say the data error where they stand (a screen reader
  // reads it on the field, as a form field's own error).
  for (const id of ['csv-file', 'label-column']) describedBy(byId(id), 'data-error', error !== null);
  showMessage(ui.dataNote, null);
  ui.datasetInfo.textContent = next ? describeDataset(next) : '';
  clearRun();
  clearComparison();
  // Not "Ready." beside a data error: nothing can run until another dataset is chosen.
  if (!busy()) setPhase('ready', next ? readyText() : 'No valid dataset: fix the file or choose another (see the message under Data).');
  updatePreview();
}

/** The label column is a CSV setting: off while a shipped dataset is chosen. */
function syncLabelColumn(): void {
  ui.labelColumn.disabled = ui.dataset.value !== 'csv';
}

/** Starts a load; returns a check that says whether it is still the latest when it finishes. */
function startLoad(): () => boolean {
  const load = ++loads;
  loading = true;
  refreshButtons();
  return () => load === loads;
}

async function chooseShipped(name: DatasetName): Promise<void> {
  const latest = startLoad();
  let next: DataSource | null = null;
  let error: string | null = null;
  try {
    next = await loadShipped(name);
  } catch (e) {
    error = `cannot load ${name}: ${(e as Error).message}`;
  }
  if (!latest()) return;
  loading = false;
  setSource(next, error);
}

/**
 * Shows the CSV as the chosen dataset, or its error (and no dataset). A big file says so in the
 * status and lets it paint first: parsing blocks the page (seconds for 100 MB). `again`: the same
 * file re-read (another label column, or chosen again in the dataset list).
 */
async function readCsv(again = true): Promise<void> {
  const file = csvFile;
  if (!file) return;
  // A shipped dataset still loading is no longer wanted; Train and Compare wait for this one.
  const latest = startLoad();
  let option = ui.dataset.querySelector<HTMLOptionElement>('option[value="csv"]');
  if (!option) {
    option = el('option', { attrs: { value: 'csv' } });
    ui.dataset.append(option);
  }
  ui.dataset.value = 'csv';
  syncLabelColumn();
  // A new file's "Reading …" is up already (takeFile); a new label column reads the text again.
  if (again && file.text !== null && file.size >= SLOW_FILE_BYTES) {
    const label = ui.labelColumn.value.trim();
    await showReading(`Reading ${file.name} (${fileSize(file.size)}) again, label column ${label === '' ? 'the last' : `"${label}"`}…`);
    if (!latest()) return;
  }
  loading = false;
  if (file.text === null) {
    option.textContent = `CSV: ${file.name} (invalid)`;
    setSource(null, file.error);
    return;
  }
  try {
    const parsed = parseCsvFile(file.text, file.name, ui.labelColumn.value);
    option.textContent = `CSV: ${file.name}`;
    setSource(parsed, null);
  } catch (error) {
    option.textContent = `CSV: ${file.name} (invalid)`;
    const message = error instanceof CsvError ? error.message : `cannot read ${file.name}: ${(error as Error).message}`;
    setSource(null, message);
  }
}

/**
 * Says in the status what is being read, and waits until that is painted (the parse after it
 * blocks the page). Never while a job runs: the dataset cannot change then (see takeFile).
 */
async function showReading(text: string): Promise<void> {
  setPhase('ready', text);
  await nextPaint();
}

/** Why a file dropped now is not taken: the dataset cannot change under a running job (or before the page has started). */
function notNow(): string {
  const what = { training: 'training runs', verifying: 'the verification runs', comparing: 'the comparison runs' } as Partial<Record<AppPhase, string>>;
  const running = what[snapshot.phase];
  return running ? `the dataset cannot change while ${running}: drop it again once the run has ended` : 'the page is still starting: drop it again once it says Ready';
}

async function takeFile(file: File | undefined): Promise<void> {
  if (!file) return;
  if (busy()) {
    // Only a drop gets here (the file input is off with the form): say why nothing happens.
    showMessage(ui.dataNote, `${file.name} was not loaded: ${notNow()}.`);
    return;
  }
  showMessage(ui.dataNote, null);
  // Choosing the same file again (after switching to a shipped dataset) must fire a new change event.
  ui.csvFile.value = '';
  const latest = startLoad();
  // Checked before reading: Chromium reads a file too long for a string as '' (see MAX_TEXT_BYTES).
  let error = tooLargeForText(file.name, file.size);
  let text: string | null = null;
  if (!error) {
    if (file.size >= SLOW_FILE_BYTES) await showReading(`Reading ${file.name} (${fileSize(file.size)})…`);
    try {
      text = await file.text();
      // A file read as '' that is more than a UTF-8 byte order mark was too long for a string after all.
      if (text === '' && file.size > 3) error = tooLargeMessage(file.name, file.size);
    } catch (e) {
      // E.g. NotReadableError: the file changed or went away since it was chosen.
      error = `cannot read ${file.name}: ${(e as Error).message || String(e)}`;
    }
  }
  if (!latest()) return;
  csvFile = error ? { name: file.name, size: file.size, text: null, error } : { name: file.name, size: file.size, text, error: null };
  await readCsv(false);
}

// ---- configuration and mask preview ----

/** The element that shows the message of a wrong field (#config-error or #compare-error). */
function messageOf(field: string): string {
  return (COMPARE_FIELDS as readonly string[]).includes(field) ? 'compare-error' : 'config-error';
}

/**
 * Marks a field wrong or not: its red mark, aria-invalid, and its message among what describes it
 * (after its hint), so that a screen reader says what is wrong and what is valid on the field.
 */
function markField(id: string, invalid: boolean): void {
  const field = byId(id);
  field.classList.toggle('invalid', invalid);
  if (invalid) field.setAttribute('aria-invalid', 'true');
  else field.removeAttribute('aria-invalid');
  describedBy(field, messageOf(id), invalid);
}

/** What `read` returns, or its ConfigError. */
function attempt<T>(read: () => T): T | ConfigError {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error;
  }
}

/**
 * Reads the form into `form` and refreshes the buttons. A wrong field is marked, its message
 * shown, and it holds up only what uses it: a shared field Train and Compare, one of Train's
 * own Train, one of Compare's own (the folds checked against the dataset's smallest class) Compare.
 */
function checkForm(): void {
  const shared = attempt(readShared);
  const train = shared instanceof ConfigError ? shared : attempt(() => readConfig(shared));
  const compare = attempt(() => readCompare(source?.dataset ?? null, shared instanceof ConfigError ? undefined : shared.lambda));
  const wrong = new Set([train, compare].flatMap((e) => (e instanceof ConfigError ? [e.field] : [])));
  for (const id of [...CONFIG_FIELDS, ...COMPARE_FIELDS]) markField(id, wrong.has(id));
  form.shared = shared instanceof ConfigError ? null : shared;
  form.train = train instanceof ConfigError ? null : train;
  form.compare = compare instanceof ConfigError ? null : compare;
  const trainOnly = form.shared !== null && train instanceof ConfigError;
  showMessage(ui.configError, train instanceof ConfigError ? train.message + (trainOnly ? '\n(Train only: Compare does not use this field.)' : '') : null);
  showMessage(ui.compareError, compare instanceof ConfigError ? compare.message : null);
  refreshButtons();
}

/** Appends each listed schedule's matched control to the Compare list, and says what it added. */
function addMatchedControls(): void {
  const note = byId('matched-note');
  checkForm();
  const field = byId<HTMLTextAreaElement>('compare-schedules');
  if (!form.shared) {
    const problem = attempt(readShared);
    showMessage(note, `Matched controls need valid shared settings (λ, hidden layers, targets, epochs): ${problem instanceof ConfigError ? problem.message : 'see the form'}`);
    return;
  }
  let result: { text: string; added: string[] };
  try {
    result = withMatchedControls(field.value, form.shared, source?.dataset ?? null);
  } catch (error) {
    if (!(error instanceof ScheduleError)) throw error;
    showMessage(note, `Matched controls need a valid schedules list: ${error.message}`);
    return;
  }
  if (result.added.length === 0) {
    showMessage(note, 'Nothing to add: every listed schedule that switches terms already has its control.');
    return;
  }
  field.value = result.text;
  showMessage(note, `Added ${result.added.join('; ')} (plain L2 at the schedule's average strength over ${plural(form.shared.epochs, 'epoch')}).`);
  checkForm();
}

function updatePreview(): void {
  checkForm();
  const config = form.train;
  if (busy()) return;
  if (!config || !source) {
    grid.clear();
    snapshot.maskTensors = [];
    snapshot.maskPreview = [];
    return;
  }
  const d = source.dataset;
  const preview = previewMasks(d.features, d.classes, { hidden: config.hidden, activation: config.activation }, config.targets, config.schedule, config.seed, config.epochs);
  grid.render(preview);
  snapshot.maskTensors = preview.tensors;
  snapshot.maskPreview = preview.masks;
}

// ---- training ----

async function startTraining(): Promise<void> {
  if (busy()) return;
  showMessage(ui.error, null);
  snapshot.error = null;
  checkForm();
  const config = form.train;
  if (!config) return;
  if (!source) {
    fail(new Error('no valid dataset: choose a shipped dataset or a CSV file without errors'));
    return;
  }
  // This attempt replaces what the last run showed, whether it finishes or not.
  clearRun();
  let data;
  try {
    data = prepareData(source, config.testFraction, config.seed);
  } catch (error) {
    fail(error instanceof SplitError ? new Error(tooFewRows(source, config.testFraction)) : error);
    setPhase('error', 'Training did not start (see the message below).');
    return;
  }
  const d = source.dataset;
  updatePreview();
  const model = { hidden: config.hidden, activation: config.activation };
  charts.reset(mlpLayout(d.features, d.classes, model).tensors.map((t) => t.name));
  const device = config.device === 'gpu' && gpu ? gpu : null;
  snapshot.device = device ? 'gpu' : 'cpu';
  const where = device ? `WebGPU (${device.name})` : 'the CPU reference trainer';
  const t = new Training(trainOptions(config, data), device);
  job = t;
  starter = ui.train;
  setPhase('training', `Training on ${where}: ${data.train.y.length} train, ${data.validation.y.length} validation, ${data.test.y.length} test rows…`);
  const started = performance.now();
  const label = source.label;
  try {
    const run = await t.run((r) => {
      charts.add(r);
      grid.markApplied(r.epoch, r.mask);
      snapshot.history.push(r);
      milestone('Training', r.epoch, config.epochs);
      progress(`Training on ${where}: epoch ${r.epoch + 1}/${config.epochs} · loss ${fmt(r.loss)} · val loss ${fmt(r.valLoss)} · val accuracy ${fmt(r.valAccuracy, 3)}`);
    }, (epoch, step, steps) => progress(`Training on ${where}: epoch ${epoch + 1}/${config.epochs} · step ${step}/${steps}`));
    charts.redraw();
    // The last epoch's line would stay up while many test rows are evaluated.
    progress('Evaluating the test rows…');
    await nextPaint();
    const test = await run.evaluate(data.test.x, data.test.y);
    const report = testReport(test, d.classNames);
    const seconds = (performance.now() - started) / 1000;
    finished = { config, data, run, test, report, adapter: run.adapter, seconds };
    runs.add({ dataset: label, config, device: run.device, status: 'done', history: run.history, testAccuracy: test.accuracy, seconds });
    const trained = `${plural(run.history.length, 'epoch')} on ${where} in ${duration(seconds)}; test accuracy ${fmt(test.accuracy)}`;
    // The run is trained and kept (history, downloads, Verify): a failure to draw its results
    // shows what could be drawn and says so, never hides the run.
    const problem = showResults(finished);
    if (problem) {
      fail(problem);
      setPhase('error', `Trained: ${trained}, but showing the results failed (see the message below); the downloads hold them.`);
    } else {
      setPhase('done', `Done: ${trained}.`);
    }
    // The headline result; the confusion matrix and the report follow it below.
    reveal(ui.testAccuracy);
  } catch (error) {
    charts.redraw();
    const seconds = (performance.now() - started) / 1000;
    if (error instanceof StopRequested) {
      // train() has ended, so the history holds every epoch trained, the ones in flight at Stop too.
      if (t.history.length > 0) runs.add({ dataset: label, config, device: snapshot.device, status: 'stopped', history: t.history, testAccuracy: null, seconds });
      setPhase('stopped', `Stopped by user after ${t.history.length} of ${plural(config.epochs, 'epoch')}.`);
    } else {
      fail(error);
      setPhase('error', 'Training failed (see the message below).');
    }
  } finally {
    job = null;
    snapshot.liveBuffers = gpu ? gpu.liveBuffers : null;
  }
}

// ---- comparing schedules ----

/**
 * Trains every listed schedule on the same k folds (runExperiment) and shows the comparison.
 * The form and the folds are checked first, so that a refused value never reaches the device.
 */
async function startCompare(): Promise<void> {
  if (busy()) return;
  showMessage(ui.error, null);
  snapshot.error = null;
  checkForm();
  const { shared: config, compare } = form;
  if (!config || !compare) return;
  if (!source) {
    fail(new Error('no valid dataset: choose a shipped dataset or a CSV file without errors'));
    return;
  }
  // The last Train's curves, test set and Verify are of another experiment: they go, as when a
  // new Train starts, and the mask grid shows Train's plan again without that run's marks.
  clearRun();
  clearComparison();
  updatePreview();
  const label = source.label;
  const device = config.device === 'gpu' && gpu ? gpu : null;
  const where = device ? `WebGPU (${device.name})` : 'the CPU reference trainer';
  const c = new ScheduleComparison(experimentOptions(config, compare, source.dataset), device);
  job = c;
  starter = ui.compare;
  const models = `${compare.schedules.length} schedules × ${compare.folds} folds`;
  setPhase('comparing', `Comparing ${models} on ${where}…`);
  try {
    const result = await c.run((epoch, _records, batch, batches) => {
      snapshot.compareProgress = { epoch: epoch + 1, epochs: config.epochs, batch: batch + 1, batches };
      milestone('Comparing', epoch, config.epochs);
      // One group of models: the app's schedules share the form's penalty mode.
      progress(`Comparing ${models} on ${where}: epoch ${epoch + 1}/${config.epochs}`);
    }, (epoch, step, steps) => progress(`Comparing ${models} on ${where}: epoch ${epoch + 1}/${config.epochs} · step ${step}/${steps}`));
    const setup = describeSetup(config, compare, label);
    byId('compare-summary').textContent = `${setup}, on ${where} in ${duration(result.seconds)}.`;
    renderComparison(byId('compare-result'), result);
    byId('compare-meaning').textContent = explainComparison(result);
    showMessage(byId('compare-controls'), missingControlsText(config, compare, source.dataset));
    byId('compare-text').textContent = comparisonText(setup, result);
    ui.comparison.hidden = false;
    snapshot.comparison = result;
    setPhase('done', `Comparison done: ${models} on ${where} in ${duration(result.seconds)}.`);
    reveal(ui.comparison);
  } catch (error) {
    if (error instanceof StopRequested) {
      const p = snapshot.compareProgress;
      setPhase('stopped', `Comparison stopped by user${p ? ` at epoch ${p.epoch} of ${p.epochs}` : ''}; nothing compared.`);
    } else {
      fail(error);
      setPhase('error', 'Comparison failed (see the message below).');
    }
  } finally {
    job = null;
    snapshot.liveBuffers = gpu ? gpu.liveBuffers : null;
  }
}

/**
 * Shows a finished run's test-set results: the accuracy, the downloads and the snapshot first,
 * then the confusion matrix and the report, each drawn as far as it goes. Returns the first
 * error in drawing them (null: all shown).
 */
function showResults(f: FinishedRun): unknown {
  const d = f.data.source.dataset;
  const k = d.classes;
  const correct = f.test.predictions.reduce((n, p, i) => n + (p === f.test.labels[i] ? 1 : 0), 0);
  ui.testAccuracy.textContent = `Test accuracy: ${fmt(f.test.accuracy)} (${correct} of ${f.test.rows} rows) · test loss ${fmt(f.test.loss)}`;
  ui.testAccuracy.dataset.value = String(f.test.accuracy);
  showMessage(ui.verifyResult, null);
  ui.verifyResult.dataset.state = 'none';
  ui.results.hidden = false;
  snapshot.testRows = f.test.rows;
  snapshot.testAccuracy = f.test.accuracy;
  snapshot.confusion = Array.from({ length: k }, (_, t) => Array.from(f.test.confusion.subarray(t * k, (t + 1) * k)));
  let problem: unknown = null;
  for (const draw of [() => renderConfusion(ui.confusion, f.test, d.classNames), () => renderReport(ui.report, ui.reportText, f.report)]) {
    try {
      draw();
    } catch (error) {
      problem ??= error;
    }
  }
  return problem;
}

/**
 * Trains the shown run's configuration on the CPU reference trainer and compares (Verify is
 * enabled only while a finished GPU run's results are on screen, so its verdict shows with them).
 */
async function verify(): Promise<void> {
  const f = finished;
  if (!f || busy()) return;
  showMessage(ui.error, null);
  const t = new Training(trainOptions(f.config, f.data), null);
  job = t;
  starter = ui.verify;
  ui.verifyResult.dataset.state = 'running';
  delete ui.verifyResult.dataset.verdict;
  showMessage(ui.verifyResult, 'Training the same configuration on the CPU reference trainer…');
  setPhase('verifying', 'Verifying on the CPU reference trainer…');
  try {
    const reference = await t.run((r) => {
      milestone('Verifying', r.epoch, f.config.epochs);
      progress(`Verifying on the CPU reference trainer: epoch ${r.epoch + 1}/${f.config.epochs}`);
    });
    const c = compareRuns(f.run, reference, f.config.lr);
    f.verification = c;
    snapshot.verification = c;
    const verdict = c.pass ? 'PASS' : 'FAIL';
    ui.verifyResult.dataset.state = 'done';
    ui.verifyResult.dataset.verdict = verdict.toLowerCase();
    // The verdict leads, in bold: its word says it to readers who cannot tell the colours apart.
    ui.verifyResult.replaceChildren(el('strong', { className: 'verdict', text: verdict }), `: ${describeComparison(c)}`);
    ui.verifyResult.hidden = false;
    setPhase('done', `Verification done: ${verdict} (details with the test-set results).`);
    ui.status.dataset.verdict = ui.verifyResult.dataset.verdict;
    reveal(ui.verifyResult);
  } catch (error) {
    if (error instanceof StopRequested) {
      ui.verifyResult.dataset.state = 'stopped';
      showMessage(ui.verifyResult, `Verification stopped by user after ${t.history.length} of ${plural(f.config.epochs, 'epoch')}; nothing compared.`);
      setPhase('stopped', 'Verification stopped by user.');
    } else {
      ui.verifyResult.dataset.state = 'error';
      fail(error);
      setPhase('error', 'Verification failed (see the message below).');
    }
  } finally {
    job = null;
  }
}

// ---- events ----

/** Selects whose chosen option's title (its explanation, also a tooltip) shows in #<id>-help. */
const EXPLAINED = ['mode', 'convention', 'targets', 'schedule-kind'];

function explain(id: string): void {
  const select = byId<HTMLSelectElement>(id);
  byId(`${id}-help`).textContent = select.selectedOptions[0]?.title ?? '';
}

function listen(): void {
  ui.form.addEventListener('submit', (event) => {
    event.preventDefault();
    void startTraining();
  });
  ui.stop.addEventListener('click', () => {
    if (!job) return;
    job.stop();
    // The job ends after its current epoch (GPU: chunk of epochs), a while in a comparison: the
    // press shows at once, and setPhase gives Stop back once the job has ended. Stop turned off
    // would drop the focus to the page: it goes to the status, which says what happens, until then.
    const focused = document.activeElement === ui.stop;
    ui.stop.disabled = true;
    ui.status.textContent = 'Stopping… (after the current epoch)';
    announce(ui.status.textContent);
    if (focused) ui.status.focus();
  });
  ui.verify.addEventListener('click', () => void verify());
  ui.compare.addEventListener('click', () => void startCompare());
  byId('add-matched').addEventListener('click', addMatchedControls);
  for (const id of CONFIG_FIELDS) {
    const input = byId(id);
    input.addEventListener('input', updatePreview);
    input.addEventListener('change', updatePreview);
  }
  // What Add matched controls did holds for the settings it read: an edit clears it.
  for (const id of [...CONFIG_FIELDS, ...COMPARE_FIELDS]) byId(id).addEventListener('input', () => showMessage(byId('matched-note'), null));
  for (const id of COMPARE_FIELDS) {
    const input = byId(id);
    input.addEventListener('input', checkForm);
    // Enter in a Compare field presses Compare (a no-op while it is off), never the form's submit button, Train.
    input.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter' || event.isComposing) return;
      event.preventDefault();
      ui.compare.click();
    });
  }
  byId('schedule-kind').addEventListener('change', () => {
    syncScheduleParam(true);
    updatePreview();
  });
  for (const id of EXPLAINED) {
    byId(id).addEventListener('change', () => explain(id));
    explain(id);
  }
  ui.dataset.addEventListener('change', () => {
    syncLabelColumn();
    const value = ui.dataset.value;
    if (value === 'csv') void readCsv();
    else void chooseShipped(value as DatasetName);
  });
  ui.csvFile.addEventListener('change', () => void takeFile(ui.csvFile.files?.[0]));
  ui.labelColumn.addEventListener('change', () => void readCsv());
  ui.dropZone.addEventListener('dragover', (event) => {
    event.preventDefault();
    ui.dropZone.classList.add('over');
  });
  ui.dropZone.addEventListener('dragleave', () => ui.dropZone.classList.remove('over'));
  ui.dropZone.addEventListener('drop', (event) => {
    event.preventDefault();
    ui.dropZone.classList.remove('over');
    void takeFile(event.dataTransfer?.files[0]);
  });
  byId('download-results').addEventListener('click', () => finished && downloadResults(finished));
  byId('download-weights').addEventListener('click', () => finished && downloadCheckpoint(finished, 'weights'));
  byId('download-manifest').addEventListener('click', () => finished && downloadCheckpoint(finished, 'manifest'));
  byId('clear-history').addEventListener('click', () => runs.clear());
}

async function main(): Promise<void> {
  listen();
  syncScheduleParam();
  syncLabelColumn();
  setPhase('init', 'Looking for a WebGPU adapter and loading the dataset…');
  await Promise.all([findGpu(), chooseShipped(ui.dataset.value as DatasetName)]);
  setPhase('ready', readyText());
  updatePreview();
}

main().catch((error) => {
  fail(error);
  setPhase('error', 'The app failed to start (see the message below).');
});
