// Checks shared by every public function that takes an options object (train, requestGpu, the
// metrics): a key that is not an option is refused, naming it, the valid keys and the one it
// probably meant. A leaf module, so that metrics and the device code can use it without
// importing the trainer. Each caller throws its own error class with the message.

/**
 * A value for a message: JSON for plain values (so a string shows its quotes: `"0.01"`), the
 * number itself for numbers (NaN, Infinity), the class name for objects (`Array`, `Float64Array`).
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'number') return String(value);
  if (value !== null && typeof value === 'object') return value.constructor?.name ?? 'an object';
  return JSON.stringify(value) ?? String(value);
}

/** `n` and `word`, with an s unless n is 1: `1 epoch`, `3 epochs`. */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Levenshtein distance, for suggesting the option a misspelt key meant. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

/** The valid key closest to `key` (case ignored), when exactly one is within a small edit distance. */
export function closest(key: string, valid: readonly string[]): string | undefined {
  const limit = key.length < 5 ? 1 : 2;
  const near = valid.map((v) => ({ v, d: editDistance(key.toLowerCase(), v.toLowerCase()) })).filter((n) => n.d <= limit);
  const best = near.filter((n) => n.d === Math.min(...near.map((m) => m.d)));
  return best.length === 1 ? best[0].v : undefined;
}

/**
 * What is wrong with an options object, or null: not an object (a message naming the valid keys
 * and what was given), or a key that is not an option (unknownKeyMessage). `field` is a nested
 * object's path (`penalty`), '' for the top level. Each caller prefixes the message with where it
 * was called if it likes, and throws its own error class.
 */
/** ` (did you mean X?)` for the valid value closest to `value`, or '' when none is close. */
export function didYouMean(value: string, valid: readonly string[]): string {
  const near = closest(value, valid);
  return near === undefined ? '' : ` (did you mean ${near}?)`;
}

export function optionsProblem(options: unknown, valid: readonly string[], elsewhere: Record<string, readonly string[]> = {}, field = ''): string | null {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    return `${field || 'options'} must be an object with keys ${valid.join(', ')}, got ${describeValue(options)}`;
  }
  return unknownKeyMessage(options, field, valid, elsewhere);
}

/**
 * The message for the first key of `value` that is not in `valid`, or null when every key is
 * valid: a misspelt key would otherwise be ignored silently (`penalty: { lamda: 0.1 }` training
 * with no penalty). `field` is the object's path ('' for the top level); `elsewhere` names the
 * objects where a key belongs instead, for the hint (`lr` at the top level belongs in `optimizer`).
 */
export function unknownKeyMessage(value: object, field: string, valid: readonly string[], elsewhere: Record<string, readonly string[]> = {}): string | null {
  const prefix = field ? `${field}.` : '';
  for (const key of Object.keys(value)) {
    if (valid.includes(key)) continue;
    const near = closest(key, valid);
    const home = Object.entries(elsewhere).find(([, keys]) => keys.includes(key))?.[0];
    const hint = near ? ` (did you mean ${prefix}${near}?)` : home ? ` (did you mean ${home}.${key}?)` : '';
    return `unknown option ${prefix}${key}${hint}; valid ${field ? `keys of ${field}` : 'options'}: ${valid.join(', ')}`;
  }
  return null;
}
