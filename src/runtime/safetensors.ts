// safetensors encoding and strict decoding (float32 tensors only): an 8-byte little-endian
// header length, a JSON header naming each tensor's dtype, shape and byte range, then the data.
// Decoding checks every claim of the header against the file before allocating anything, so a
// corrupt or hostile file is rejected with a message saying what is wrong.

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

/** Largest header accepted (the format's own reference limit is 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

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
 * `source` names the file in messages.
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
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (error) {
    return fail(`header is not valid UTF-8 JSON (${(error as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) return fail('header is not a JSON object');
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  const entries: { name: string; shape: number[]; begin: number; end: number }[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (!value || typeof value !== 'object' || Object.values(value).some((v) => typeof v !== 'string')) fail('__metadata__ must map names to strings');
      metadata = value as Record<string, string>;
      continue;
    }
    const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!v || typeof v !== 'object') fail(`tensor '${name}' has no description`);
    if (v.dtype !== 'F32') fail(`tensor '${name}' has dtype ${JSON.stringify(v.dtype)}; only F32 is supported`);
    if (!Array.isArray(v.shape) || v.shape.some((d) => !Number.isInteger(d) || d < 0 || d > 2 ** 31)) fail(`tensor '${name}' has an invalid shape ${JSON.stringify(v.shape)}`);
    const offsets = v.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || offsets.some((o) => !Number.isInteger(o) || o < 0)) {
      fail(`tensor '${name}' has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as number[];
    const shape = v.shape as number[];
    const count = shape.reduce((a, b) => a * b, 1);
    if (end < begin || end > dataLength) fail(`tensor '${name}' spans bytes [${begin}, ${end}) outside the ${dataLength} data bytes`);
    if (end - begin !== count * 4) fail(`tensor '${name}' of shape [${shape}] needs ${count * 4} bytes, its offsets give ${end - begin}`);
    if (begin % 4 !== 0) fail(`tensor '${name}' starts at byte ${begin}, not a multiple of 4`);
    entries.push({ name, shape, begin, end });
  }
  entries.sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < entries.length; i++) {
    if (entries[i].begin < entries[i - 1].end) fail(`tensors '${entries[i - 1].name}' and '${entries[i].name}' overlap`);
  }
  if (expected) {
    const names = new Set(entries.map((e) => e.name));
    for (const [name, shape] of Object.entries(expected)) {
      if (!names.has(name)) fail(`tensor '${name}' [${shape}] is missing`);
      const e = entries.find((x) => x.name === name)!;
      if (e.shape.join(',') !== shape.join(',')) fail(`tensor '${name}' has shape [${e.shape}], the model needs [${shape}]`);
    }
    for (const e of entries) if (!(e.name in expected)) fail(`unexpected tensor '${e.name}'`);
  }
  const tensors: Record<string, NamedTensor> = {};
  for (const e of entries) {
    // Copy: the data may not be 4-byte aligned inside the file's buffer.
    const data = new Float32Array((e.end - e.begin) / 4);
    new Uint8Array(data.buffer).set(bytes.subarray(dataStart + e.begin, dataStart + e.end));
    tensors[e.name] = { shape: e.shape, data };
  }
  return { tensors, metadata };
}
