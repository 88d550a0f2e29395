// safetensors decoding against hand-built files: what the format's reference implementation
// accepts decodes to the bytes' values; a file whose header does not describe its data exactly
// (gaps, trailing bytes, a name listed twice, a name an object's prototype answers to) is refused
// with a message naming the file and the tensor, before anything the header claims is allocated.
import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, SafetensorsError } from './safetensors.js';

/** A file: the 8-byte little-endian length of `header` (text, as written), the header, then `data`. */
function file(header: string, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** float32 values as little-endian bytes, written one by one with DataView (not a Float32Array view). */
function floatBytes(values: number[]): Uint8Array {
  const out = new Uint8Array(4 * values.length);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setFloat32(4 * i, v, true));
  return out;
}

const tensor = (shape: number[], begin: number, end: number) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });
const refuse = (bytes: Uint8Array, expected?: Record<string, number[]>) => {
  const before = process.memoryUsage().arrayBuffers;
  const error = (() => {
    try {
      decodeSafetensors(bytes, expected, 'w.safetensors');
    } catch (e) {
      return e as Error;
    }
    return null;
  })();
  expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
  expect(error).toBeInstanceOf(SafetensorsError);
  return error!.message;
};

describe('decodeSafetensors', () => {
  it('reads what the format allows: tensors in any header order, a scalar, an empty tensor, padding, metadata', () => {
    const values = Array.from({ length: 7 }, () => Math.fround(Math.random() * 200 - 100));
    // b's bytes come first although the header lists a first; z is empty and takes no bytes.
    const header = JSON.stringify({ __metadata__: { epoch: '3' }, a: tensor([2, 3], 4, 28), z: tensor([0, 5], 28, 28), b: tensor([], 0, 4) }) + '   ';
    const { tensors, metadata } = decodeSafetensors(file(header, floatBytes([values[6], ...values.slice(0, 6)])));
    expect(metadata).toEqual({ epoch: '3' });
    expect(Object.keys(tensors).sort()).toEqual(['a', 'b', 'z']);
    expect(tensors.a.shape).toEqual([2, 3]);
    expect(Array.from(tensors.a.data)).toEqual(values.slice(0, 6));
    expect(Array.from(tensors.b.data)).toEqual([values[6]]);
    expect(tensors.b.shape).toEqual([]);
    expect(tensors.z.data.length).toBe(0);
    // And what encodeSafetensors writes.
    const data = Float32Array.from(values);
    expect(Array.from(decodeSafetensors(encodeSafetensors({ w: { shape: [7], data } }, { k: 'v' })).tensors.w.data)).toEqual(values);
  });

  // These were read without complaint: the bytes outside every tensor (a file with something
  // hidden in it, or one cut from a larger one) and the first of two descriptions were ignored.
  it('refuses data that the tensors do not cover exactly', () => {
    const eight = new Uint8Array(32);
    expect(refuse(file(JSON.stringify({ a: tensor([2], 0, 8), b: tensor([2], 16, 24) }), eight.subarray(0, 24)))).toBe(
      "w.safetensors: data bytes [8, 16) before tensor 'b' belong to no tensor; the tensors must cover the data without gaps",
    );
    expect(refuse(file(JSON.stringify({ a: tensor([2], 8, 16) }), eight.subarray(0, 16)))).toBe(
      "w.safetensors: data bytes [0, 8) before tensor 'a' belong to no tensor; the tensors must cover the data without gaps",
    );
    expect(refuse(file(JSON.stringify({ a: tensor([2], 0, 8) }), eight.subarray(0, 12)))).toBe(
      'w.safetensors: data bytes [8, 12) after the last tensor belong to no tensor; the tensors must cover the data without gaps',
    );
    expect(refuse(file('{}', eight.subarray(0, 4)))).toBe('w.safetensors: data bytes [0, 4) after the last tensor belong to no tensor; the tensors must cover the data without gaps');
    // An empty tensor inside another's bytes overlaps it.
    expect(refuse(file(JSON.stringify({ a: tensor([4], 0, 16), e: tensor([0], 8, 8) }), eight.subarray(0, 16)))).toBe("w.safetensors: tensors 'a' and 'e' overlap");
  });

  it('refuses a name listed twice, whichever description comes last', () => {
    const same = JSON.stringify(tensor([2], 0, 8)).slice(1, -1);
    expect(refuse(file(`{"w":{${same}},"w":{${same}}}`, new Uint8Array(8)))).toBe("w.safetensors: the header lists 'w' twice; each name may appear once in an object");
    // Escapes spell the same name; nested keys and string values do not count.
    expect(refuse(file(`{"__metadata__":{"w":"w"},"w":{${same}}, "\\u0077" :{"dtype":"F32","shape":[0],"data_offsets":[8,8]}}`, new Uint8Array(8)))).toBe(
      "w.safetensors: the header lists 'w' twice; each name may appear once in an object",
    );
    // Inside an object too: a second metadata value (the epoch a checkpoint checks) or description field.
    expect(refuse(file(`{"__metadata__":{"epoch":"1","epoch":"2"},"w":{${same}}}`, new Uint8Array(8)))).toBe(
      "w.safetensors: the header lists '__metadata__.epoch' twice; each name may appear once in an object",
    );
    expect(refuse(file(`{"w":{${same},"dtype":"F32"}}`, new Uint8Array(8)))).toBe("w.safetensors: the header lists 'w.dtype' twice; each name may appear once in an object");
    expect(Object.keys(decodeSafetensors(file(`{"__metadata__":{"w":"w:"},"w":{${same}},"x:":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}}`, new Uint8Array(8))).tensors)).toEqual(['w', 'x:']);
  });

  // A tensor named '__proto__' became the result's prototype, and one named like a member of
  // Object.prototype ('toString') passed the check for unexpected tensors.
  it('takes a name such as __proto__ as a name', () => {
    const header = JSON.stringify({ w: tensor([2], 0, 8) }).slice(0, -1) + ',"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}';
    const bytes = file(header, floatBytes([1, 2, 3]));
    const { tensors } = decodeSafetensors(bytes);
    expect(Object.keys(tensors)).toEqual(['w', '__proto__']);
    expect(Array.from(tensors['__proto__'].data)).toEqual([3]);
    expect(refuse(bytes, { w: [2] })).toBe("w.safetensors: unexpected tensor '__proto__'");
    expect(refuse(file(JSON.stringify({ w: tensor([2], 0, 8), toString: tensor([0], 8, 8) }), new Uint8Array(8)), { w: [2] })).toBe("w.safetensors: unexpected tensor 'toString'");
  });

  it('says what is valid for each field of the header', () => {
    const cases: [string, Uint8Array, string][] = [
      ['a header length of 2^53', (() => { const b = file('{}', new Uint8Array(0)); new DataView(b.buffer).setBigUint64(0, 2n ** 53n, true); return b; })(), 'header claims 9007199254740992 bytes but the file has 2 after the length'],
      ['a header that is a list', file('[]', new Uint8Array(0)), 'header is not a JSON object'],
      ['__metadata__ as a list', file('{"__metadata__":["a"]}', new Uint8Array(0)), '__metadata__ must be an object mapping names to strings, got ["a"]'],
      ['a number in __metadata__', file('{"__metadata__":{"epoch":3}}', new Uint8Array(0)), '__metadata__.epoch is 3; __metadata__ maps names to strings'],
      ['reversed offsets', file(JSON.stringify({ w: tensor([0], 8, 0) }), new Uint8Array(8)), "tensor 'w' has data_offsets [8, 0]: it ends before it begins"],
      ['three offsets', file(JSON.stringify({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8, 9] } }), new Uint8Array(8)), "tensor 'w' has data_offsets [0,8,9]; they must be [begin, end], integers ≥ 0 (bytes after the header)"],
      ['a dimension of 2^40', file(JSON.stringify({ w: tensor([2 ** 40], 0, 8) }), new Uint8Array(8)), "tensor 'w' has shape [1099511627776]; a shape is a list of integers in [0, 2147483648]"],
      ['a fractional dimension', file(JSON.stringify({ w: tensor([1.5], 0, 8) }), new Uint8Array(8)), "tensor 'w' has shape [1.5]; a shape is a list of integers in [0, 2147483648]"],
      // 2^93 values: the product is far beyond 2^53, and the byte count says so.
      ['dimensions whose product passes 2^53', file(JSON.stringify({ w: tensor([2 ** 31, 2 ** 31, 2 ** 31], 0, 8) }), new Uint8Array(8)), "tensor 'w' of shape [2147483648,2147483648,2147483648] needs 3.961408125713217e+28 bytes, its offsets give 8"],
      ['a shape that is not the bytes', file(JSON.stringify({ w: tensor([3], 0, 8) }), new Uint8Array(8)), "tensor 'w' of shape [3] needs 12 bytes, its offsets give 8"],
      ['another dtype', file(JSON.stringify({ w: { dtype: 'F16', shape: [4], data_offsets: [0, 8] } }), new Uint8Array(8)), `tensor 'w' has dtype "F16"; only F32 is supported`],
    ];
    for (const [what, bytes, message] of cases) expect(refuse(bytes), what).toBe(`w.safetensors: ${message}`);
  });
});
