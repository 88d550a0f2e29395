// The multilayer perceptron altreg trains: Dense layers with one hidden activation and a softmax
// output, its parameter layout, tensor names and Keras-default initialization.
//
// Layout: one model's parameters are a single block of `perModel` floats. Layer l holds its
// kernel [inputs, outputs] row-major followed by its bias [outputs], i.e. a block
// [inputs + 1, outputs] whose last row is the bias; the matmul kernels read it that way.

import type { Segments } from '../kernels/common.js';
import { ACTIVATIONS, type Activation } from '../kernels/matmul.js';
import { Random } from '../runtime/random.js';

/**
 * The network: Dense hidden layers of these widths with one activation, then a linear layer of one
 * output per class and a softmax. A bad one throws a ModelConfigError (a TrainOptionsError from
 * train()).
 */
export interface ModelConfig {
  /**
   * Widths of the hidden layers, e.g. [10] for the original 4-10-3 Iris net: integers from 1 to
   * 65,536, at most 30 layers ([]: softmax regression).
   */
  hidden: number[];
  /** Activation of every hidden layer (the output layer is linear, then softmax). */
  activation: Activation;
}

export interface LayerLayout {
  inputs: number;
  outputs: number;
  /** Offset of the layer's block in a model's parameters. */
  offset: number;
  /** Activation applied to this layer's output ('identity' for the logits). */
  activation: Activation;
}

/** One named tensor: `dense_0/kernel`, `dense_0/bias`, ... */
export interface TensorLayout {
  name: string;
  offset: number;
  length: number;
  shape: number[];
  layer: number;
  kind: 'kernel' | 'bias';
}

/**
 * Where every parameter of one model lives, from mlpLayout(): layer l's kernel [inputs, outputs]
 * row-major, then its bias [outputs], layer after layer, in one block of `perModel` floats (as in
 * Run.params and Checkpoint.params).
 */
export interface MlpLayout {
  /** Inputs of the first layer. */
  features: number;
  /** Outputs of the last layer (the logits). */
  classes: number;
  /** [features, ...hidden, classes] */
  widths: number[];
  /** Per layer: inputs, outputs, the offset of its block, its activation. */
  layers: LayerLayout[];
  /** Tensors in memory order (dense_0/kernel, dense_0/bias, dense_1/kernel, ...). */
  tensors: TensorLayout[];
  /** Parameters of one model. */
  perModel: number;
  /** Tensor starts for the kernels that treat tensors differently. */
  segments: Segments;
}

/**
 * A bad ModelConfig, feature or class count (mlpLayout), or named weights that do not fit the model
 * (a missing, extra or short tensor, a non-finite value); the message names the field and what is
 * valid. train() and trainBatch() throw it as a TrainOptionsError.
 */
export class ModelConfigError extends Error {
  override name = 'ModelConfigError';
}

/** Checks the model config; the message names the field and what is valid. */
export function validateModel(config: ModelConfig, field = 'model'): void {
  if (!config || !Array.isArray(config.hidden)) throw new ModelConfigError(`${field}.hidden must be an array of layer widths, e.g. [10]`);
  config.hidden.forEach((w, i) => {
    if (!Number.isInteger(w) || w < 1 || w > 65536) throw new ModelConfigError(`${field}.hidden[${i}] must be an integer in [1, 65536], got ${w}`);
  });
  if (config.hidden.length > 30) throw new ModelConfigError(`${field}.hidden has ${config.hidden.length} layers; at most 30 are supported`);
  if (!ACTIVATIONS.includes(config.activation)) {
    throw new ModelConfigError(`${field}.activation must be one of ${ACTIVATIONS.join(', ')}; got ${JSON.stringify(config.activation)}`);
  }
}

/**
 * The layout of a model for `features` inputs and `classes` outputs. Throws a ModelConfigError
 * for a bad config or counts; classes must be ≥ 2, as train() requires, since a softmax over one
 * class is constant.
 */
export function mlpLayout(features: number, classes: number, config: ModelConfig): MlpLayout {
  if (!Number.isInteger(features) || features < 1) throw new ModelConfigError(`features must be an integer ≥ 1, got ${features}`);
  if (!Number.isInteger(classes) || classes < 2) throw new ModelConfigError(`classes must be an integer ≥ 2, got ${classes}`);
  validateModel(config);
  const widths = [features, ...config.hidden, classes];
  const layers: LayerLayout[] = [];
  const tensors: TensorLayout[] = [];
  let offset = 0;
  for (let l = 0; l + 1 < widths.length; l++) {
    const inputs = widths[l];
    const outputs = widths[l + 1];
    const last = l + 2 === widths.length;
    layers.push({ inputs, outputs, offset, activation: last ? 'identity' : config.activation });
    tensors.push({ name: `dense_${l}/kernel`, offset, length: inputs * outputs, shape: [inputs, outputs], layer: l, kind: 'kernel' });
    tensors.push({ name: `dense_${l}/bias`, offset: offset + inputs * outputs, length: outputs, shape: [outputs], layer: l, kind: 'bias' });
    offset += (inputs + 1) * outputs;
  }
  return { features, classes, widths, layers, tensors, perModel: offset, segments: { perModel: offset, starts: tensors.map((t) => t.offset) } };
}

/**
 * Keras' defaults: Glorot-uniform kernels (U(±√(6/(fan_in + fan_out)))) and zero biases.
 * Kernels are filled in layer order, row-major, from `Random(seed)`.
 */
export function glorotInit(layout: MlpLayout, seed: number): Float32Array {
  const rng = new Random(seed);
  const params = new Float32Array(layout.perModel);
  for (const layer of layout.layers) {
    const limit = Math.sqrt(6 / (layer.inputs + layer.outputs));
    for (let i = 0; i < layer.inputs * layer.outputs; i++) params[layer.offset + i] = rng.uniform(-limit, limit);
  }
  return params;
}

/** Splits one model's parameter block into named tensors (copies). */
export function toNamedTensors(layout: MlpLayout, params: Float32Array, offset = 0): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const t of layout.tensors) out[t.name] = params.slice(offset + t.offset, offset + t.offset + t.length);
  return out;
}

/** Packs named tensors into a parameter block, checking every name and length. */
export function fromNamedTensors(layout: MlpLayout, tensors: Record<string, Float32Array | ArrayLike<number>>, field = 'weights'): Float32Array {
  const params = new Float32Array(layout.perModel);
  const expected = new Set(layout.tensors.map((t) => t.name));
  for (const name of Object.keys(tensors)) {
    if (!expected.has(name)) throw new ModelConfigError(`${field}: unexpected tensor '${name}'; the model has ${[...expected].join(', ')}`);
  }
  for (const t of layout.tensors) {
    const value = tensors[t.name];
    if (!value) throw new ModelConfigError(`${field}: tensor '${t.name}' [${t.shape.join(', ')}] is missing`);
    if (value.length !== t.length) {
      throw new ModelConfigError(`${field}: tensor '${t.name}' has ${value.length} values, shape [${t.shape.join(', ')}] needs ${t.length}`);
    }
    for (let i = 0; i < t.length; i++) {
      if (!Number.isFinite(value[i])) throw new ModelConfigError(`${field}: tensor '${t.name}' holds a non-finite value at index ${i}`);
    }
    params.set(value, t.offset);
  }
  return params;
}
