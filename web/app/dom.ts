// Small DOM helpers for the app. Every piece of text goes in through textContent (never
// innerHTML): class, feature and file names come from user CSV files.

/** The element with this id; throws naming the id when the page lacks it. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no element #${id}`);
  return found as T;
}

export interface ElementSpec {
  className?: string;
  text?: string;
  title?: string;
  /** Set as attributes (data-*, aria-*, ...). */
  attrs?: Record<string, string>;
}

/** A new element with text set as textContent and the given children appended. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, spec: ElementSpec = {}, children: (Node | string)[] = []): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (spec.className) node.className = spec.className;
  if (spec.text !== undefined) node.textContent = spec.text;
  if (spec.title !== undefined) node.title = spec.title;
  for (const [key, value] of Object.entries(spec.attrs ?? {})) node.setAttribute(key, value);
  // One by one, not append(...children): a report of thousands of classes would spread thousands of arguments.
  for (const child of children) node.append(child);
  return node;
}

/**
 * Shows `message` in an error element (hidden while empty). The same message again leaves the
 * element alone: most are live regions, and the form is checked at every key pressed anywhere.
 */
export function showMessage(target: HTMLElement, message: string | null): void {
  if (target.textContent !== (message ?? '')) target.textContent = message ?? '';
  target.hidden = !message;
}

/** Offers `data` as a file download named `fileName`. */
/**
 * Adds the element `id` to what describes `field` (aria-describedby, after what is there) or takes
 * it away: an error message read on the field it is about.
 */
export function describedBy(field: HTMLElement, id: string, on: boolean): void {
  const ids = (field.getAttribute('aria-describedby') ?? '').split(' ').filter((d) => d !== '' && d !== id);
  if (on) ids.push(id);
  if (ids.length > 0) field.setAttribute('aria-describedby', ids.join(' '));
  else field.removeAttribute('aria-describedby');
}

export function download(fileName: string, data: BlobPart, type: string): void {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = el('a', { attrs: { href: url, download: fileName } });
  document.body.append(a);
  a.click();
  a.remove();
  // The browser has started the download by now; free the blob a little later.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** `n` and `word`, with an s unless n is 1: `1 epoch`, `3 epochs`. */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** A number for tables: fixed decimals, or '–' when missing. */
export function fmt(value: number | undefined | null, digits = 4): string {
  return value === undefined || value === null || !Number.isFinite(value) ? '–' : value.toFixed(digits);
}

/** A file size for messages: "24 bytes", "940 kB", "23.5 MB", "540 MB" (decimal units, as file managers show them). */
export function fileSize(bytes: number): string {
  if (bytes < 1e3) return plural(bytes, 'byte');
  if (bytes < 1e6) return `${Math.round(bytes / 1e3)} kB`;
  return bytes < 1e8 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.round(bytes / 1e6)} MB`;
}

/**
 * Resolves once the browser has painted what the page just changed: long synchronous work (parsing
 * a big CSV, evaluating many test rows) would otherwise freeze the page with the previous text on it.
 * A hidden tab draws no frames: after 100 ms it resolves anyway.
 */
export function nextPaint(): Promise<void> {
  return new Promise((resolve) => {
    const fallback = setTimeout(resolve, 100);
    requestAnimationFrame(() => {
      clearTimeout(fallback);
      // requestAnimationFrame runs before the paint; the timeout after it.
      setTimeout(resolve, 0);
    });
  });
}

/** A duration for the status line: milliseconds under 0.1 s, where "0.0 s" would say nothing. */
export function duration(seconds: number): string {
  return seconds < 0.1 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(1)} s`;
}

/**
 * Scrolls `target` into view by as little as possible when it is off screen, and not at all when
 * it is in view: the buttons sit below the form, far from the status and the results in a wide
 * window.
 */
export function reveal(target: HTMLElement): void {
  target.scrollIntoView({ block: 'nearest' });
}
