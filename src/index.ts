// The altreg package entry: training (train, trainBatch), schedules and penalties, checkpoints,
// data sets, splits and metrics, the GPU device, the kernels with their CPU twins, and the matmul
// tuner, with every error class their functions throw. Runs in browsers (navigator.gpu) and in
// Node (Dawn through the npm package `webgpu`, loaded only there).
//
// The declarations use the WebGPU types (GPUDevice, GPUBuffer, ...); this reference carries them
// into dist/types/index.d.ts for TypeScript users (tsc ≥ 5.5 keeps it only with preserve="true").
/// <reference types="@webgpu/types" preserve="true" />

export { train, trainBatch, Run, TrainOptionsError, DEFAULT_OPTIMIZER } from './runtime/train.js';
export type {
  BatchModel,
  BatchOptions,
  BatchRun,
  Checkpoint,
  CheckpointManifest,
  CommonOptions,
  DeviceChoice,
  InitConfig,
  OptimizerConfig,
  TrainOptions,
} from './runtime/train.js';
export { DivergenceError, scheduleMasks, scheduleShares, type DivergenceKind, type EpochRecord, type Evaluation, type TrainData } from './runtime/plan.js';
export { Schedule, ScheduleError, parseSchedule, scheduleLabel, targetedTensors, SCHEDULE_NAMES } from './runtime/schedule.js';
export type { ScheduleFunction, ScheduleName, ScheduleSpec, Targets } from './runtime/schedule.js';
export { PenaltyConfigError, isLambda, LAMBDA_RANGE, type Convention, type PenaltyConfig, type PenaltyMode } from './runtime/penalty.js';
export { CheckpointError, checkpointWeights, decodeCheckpoint, encodeCheckpoint, loadCheckpoint, saveCheckpoint } from './runtime/checkpoint.js';
export { SafetensorsError, decodeSafetensors, encodeSafetensors } from './runtime/safetensors.js';
export { softmaxRows, softmaxRows64, type Prediction } from './runtime/evaluate.js';
export { Random } from './runtime/random.js';
export { ModelConfigError, mlpLayout, type ModelConfig, type MlpLayout } from './model/mlp.js';
export * from './data/index.js';
export { experimentSplits, runExperiment, type Arm, type ArmResult, type ExperimentOptions, type ExperimentResult, type FoldResult } from './experiment/crossval.js';
export { armKey, describeLambda, describeMissingControls, matchedControl, missingControls, parseArms, type ArmText, type MissingControl } from './experiment/arms.js';
export { correctedTest, formatAveragedReport, formatComparison, formatIllDefined, formatInterval, formatMeanStd, formatP, formatPairedDifference, formatSigned, jsonText, pairedTestCount } from './experiment/format.js';
export * from './metrics/index.js';
export { Gpu, GpuError, requestGpu, sharedGpu, type AdapterDescription, type GpuOptions } from './runtime/gpu.js';
/**
 * Every kernel wrapper (`create…`: checks its sizes and buffers, then prepares the dispatch once)
 * with its CPU twin (`…Cpu`), for users who compose their own GPU programs. They throw
 * KernelInputError before any GPU work.
 */
export * as kernels from './kernels/index.js';
export { KernelInputError } from './kernels/common.js';
export { ACTIVATIONS, matmulStrategy, setMatmulStrategy, type Activation, type MatmulStrategy } from './kernels/matmul.js';
export { tuneMatmul, tuningMismatch, type MatmulTuning, type TuneOptions } from './kernels/tune.js';
export { runSelfCheck, type CheckResult } from './kernels/selfcheck.js';
