// safetensors encoding and strict decoding (float32 tensors only): an 8-byte little-endian
// header length, a JSON header naming each tensor's dtype, shape and byte range, then the data.
// Decoding checks every claim of the header against the file before allocating anything, so a
// corrupt or hostile file is rejected with a message saying what is wrong.

/**
 * A safetensors file that cannot be written or read: a tensor whose data does not fill its shape
 * (encodeSafetensors); a header that is too short, too long or not JSON, a dtype other than F32,
 * a name listed twice (in any object of the header), byte ranges that overlap, leave gaps or pass the end, or tensors other than
 * the names and shapes expected (decodeSafetensors, whose messages start with `source`).
 */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

/** Largest header accepted (the format's own reference limit is 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

/**
 * The safetensors bytes of float32 tensors: an 8-byte little-endian header length, a JSON header
 * (each tensor's dtype F32, shape and byte range, in name order, and `__metadata__` when it has
 * keys) padded with spaces so that the data starts 8-byte aligned, then the data in name order.
 * @throws SafetensorsError when a tensor's data does not hold its shape's number of values.
 */
export function encodeSafetensors(tensors: Record<string, NamedTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new SafetensorsError(`tensor '${name}': shape [${t.shape}] needs ${count} values, has ${t.data.length}`);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned.
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const d = tensors[name].data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
    at += d.byteLength;
  }
  return out;
}

/**
 * Decodes a file; `expected` (name → shape), when given, must match the file's tensors exactly.
 * `source` names the file in messages. As the format's reference implementation requires, the
 * tensors cover the data bytes exactly (no gap, no overlap, nothing after the last) and no name
 * is listed twice. `tensors` has no prototype, so any name (`__proto__`) is a tensor's.
 */
export function decodeSafetensors(bytes: Uint8Array, expected?: Record<string, number[]>, source = 'safetensors file'): { tensors: Record<string, NamedTensor>; metadata: Record<string, string> } {
  const fail = (what: string): never => {
    throw new SafetensorsError(`${source}: ${what}`);
  };
  if (bytes.length < 8) fail(`${bytes.length} bytes is too short for a header (8-byte length first)`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) fail(`header claims ${headerLength} bytes but the file has ${bytes.length - 8} after the length`);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) fail(`header of ${headerLength} bytes exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(headerLength);
  let text = '';
  let header: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
    header = JSON.parse(text);
  } catch (error) {
    return fail(`header is not valid UTF-8 JSON (${(error as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) return fail('header is not a JSON object');
  // JSON.parse keeps the last of two equal keys: a second description would pass unseen.
  const twice = repeatedKey(text);
  if (twice !== null) fail(`the header lists '${twice}' twice; each name may appear once in an object`);
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  const entries: { name: string; shape: number[]; begin: number; end: number }[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (!value || typeof value !== 'object' || Array.isArray(value)) fail(`__metadata__ must be an object mapping names to strings, got ${JSON.stringify(value)}`);
      for (const [key, v] of Object.entries(value as object)) if (typeof v !== 'string') fail(`__metadata__.${key} is ${JSON.stringify(v)}; __metadata__ maps names to strings`);
      metadata = value as Record<string, string>;
      continue;
    }
    const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!v || typeof v !== 'object') fail(`tensor '${name}' has no description`);
    if (v.dtype !== 'F32') fail(`tensor '${name}' has dtype ${JSON.stringify(v.dtype)}; only F32 is supported`);
    if (!Array.isArray(v.shape) || v.shape.some((d) => !Number.isInteger(d) || d < 0 || d > 2 ** 31)) {
      fail(`tensor '${name}' has shape ${JSON.stringify(v.shape)}; a shape is a list of integers in [0, 2147483648]`);
    }
    const offsets = v.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || offsets.some((o) => !Number.isInteger(o) || o < 0)) {
      fail(`tensor '${name}' has data_offsets ${JSON.stringify(offsets)}; they must be [begin, end], integers ≥ 0 (bytes after the header)`);
    }
    const [begin, end] = offsets as number[];
    const shape = v.shape as number[];
    const count = shape.reduce((a, b) => a * b, 1);
    if (end < begin) fail(`tensor '${name}' has data_offsets [${begin}, ${end}]: it ends before it begins`);
    if (end > dataLength) fail(`tensor '${name}' spans bytes [${begin}, ${end}) outside the ${dataLength} data bytes`);
    if (end - begin !== count * 4) fail(`tensor '${name}' of shape [${shape}] needs ${count * 4} bytes, its offsets give ${end - begin}`);
    entries.push({ name, shape, begin, end });
  }
  // Each tensor starts where the one before it ends (so at a multiple of 4), the first at 0.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const [i, e] of entries.entries()) {
    if (e.begin < covered) fail(`tensors '${entries[i - 1].name}' and '${e.name}' overlap`);
    if (e.begin > covered) fail(`data bytes [${covered}, ${e.begin}) before tensor '${e.name}' belong to no tensor; the tensors must cover the data without gaps`);
    covered = e.end;
  }
  if (covered !== dataLength) fail(`data bytes [${covered}, ${dataLength}) after the last tensor belong to no tensor; the tensors must cover the data without gaps`);
  const byName = new Map(entries.map((e) => [e.name, e]));
  if (expected) {
    for (const [name, shape] of Object.entries(expected)) {
      const e = byName.get(name);
      if (!e) return fail(`tensor '${name}' [${shape}] is missing`);
      if (e.shape.join(',') !== shape.join(',')) fail(`tensor '${name}' has shape [${e.shape}], the model needs [${shape}]`);
    }
    for (const e of entries) if (!Object.hasOwn(expected, e.name)) fail(`unexpected tensor '${e.name}'`);
  }
  // No prototype: a tensor may be named '__proto__' or 'toString'.
  const tensors: Record<string, NamedTensor> = Object.create(null);
  for (const e of entries) {
    // Copy: the data may not be 4-byte aligned inside the file's buffer.
    const data = new Float32Array((e.end - e.begin) / 4);
    new Uint8Array(data.buffer).set(bytes.subarray(dataStart + e.begin, dataStart + e.end));
    tensors[e.name] = { shape: e.shape, data };
  }
  return { tensors, metadata };
}

/**
 * The first key that one object of a JSON text lists twice, as its path (`w`,
 * `__metadata__.epoch`), or null; `text` must be valid JSON. JSON.parse keeps the last of two
 * equal keys, so a second description of a tensor, or a second metadata value, would pass
 * unseen. A key is a string followed by a colon; each open object has its own set of keys.
 */
function repeatedKey(text: string): string | null {
  // One entry per open object (its keys so far and its path) or array (null).
  const stack: ({ keys: Set<string>; path: string } | null)[] = [];
  const colon = /[ \t\n\r]*:/y;
  let lastKey = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{' || c === '[') {
      const parent = stack.at(-1);
      const path = parent ? (parent.path ? `${parent.path}.${lastKey}` : lastKey) : '';
      stack.push(c === '{' ? { keys: new Set(), path } : null);
    } else if (c === '}' || c === ']') stack.pop();
    else if (c === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
      colon.lastIndex = i + 1;
      const object = stack.at(-1);
      if (!object || !colon.test(text)) continue;
      const key = JSON.parse(text.slice(start, i + 1)) as string;
      if (object.keys.has(key)) return object.path ? `${object.path}.${key}` : key;
      object.keys.add(key);
      lastKey = key;
    }
  }
  return null;
}
