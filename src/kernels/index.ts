// Every kernel wrapper and CPU twin, for users who compose their own GPU programs.
export * from './common.js';
export * from './matmul.js';
export * from './gather.js';
export * from './softmax-xent.js';
export * from './metrics.js';
export * from './l2-grad.js';
export * from './adam.js';
export * from './sumsq.js';
export * from './tune.js';
