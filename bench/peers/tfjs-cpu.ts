// TF.js's cpu backend as a training contender, in a child process of its own. TF.js backends
// are global to a process and the webgpu backend cannot read tensors synchronously in Node,
// which moving a tensor between backends needs; so the cpu contender never shares TF.js with
// the webgpu one. The benchmark forks its own script with CHILD_FLAG; the child builds each
// task itself (same seeds, same data) and trains on request, one message per call, so the
// parent times it interleaved with the other contenders like any of them. Node only.

import { fork, type ChildProcess } from 'node:child_process';
import { makeTask, type TaskSpec, type TrainingContender } from '../training.js';
import { tfjsTrainer } from './tfjs-train.js';

/** argv[2] of the child: bench/main.ts hands the process to serveTfjsCpu() when it sees it. */
export const CHILD_FLAG = '--serve-tfjs-cpu';

type Body = { op: 'open'; spec: TaskSpec } | { op: 'train'; handle: number; epochs: number } | { op: 'dispose'; handle: number };
type Request = Body & { id: number };
type Reply = { id: number; value?: unknown; error?: string };

/** The child's side: answers requests until the parent goes away. */
export async function serveTfjsCpu(): Promise<void> {
  const tf = await import('@tensorflow/tfjs');
  if (!(await tf.setBackend('cpu'))) throw new Error("TF.js could not start its 'cpu' backend");
  const contenders = new Map<number, TrainingContender>();
  let next = 0;
  const handle = async (r: Request): Promise<unknown> => {
    if (r.op === 'open') {
      contenders.set(next, tfjsTrainer(tf, 'TF.js cpu', await makeTask(r.spec)));
      return { handle: next++, version: tf.version.tfjs };
    }
    const c = contenders.get(r.handle);
    if (!c) throw new Error(`no contender ${r.handle}`);
    if (r.op === 'train') return c.train(r.epochs);
    await c.dispose();
    contenders.delete(r.handle);
    return null;
  };
  // One request at a time: the parent awaits every reply before it sends the next.
  process.on('message', (r: Request) => {
    handle(r).then(
      (value) => process.send!({ id: r.id, value } satisfies Reply),
      (error: Error) => process.send!({ id: r.id, error: error.message } satisfies Reply),
    );
  });
  process.on('disconnect', () => process.exit(0));
}

/** The parent's side: a child running `script` with CHILD_FLAG, and contenders living in it. */
export class TfjsCpuChild {
  private readonly child: ChildProcess;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  version = '';

  constructor(script: string) {
    // The child's stdout goes to our stderr: stdout carries the benchmark's tables.
    this.child = fork(script, [CHILD_FLAG], { stdio: ['ignore', 2, 2, 'ipc'] });
    this.child.on('message', (reply: Reply) => {
      const w = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      if (reply.error !== undefined) w?.reject(new Error(reply.error));
      else w?.resolve(reply.value);
    });
    this.child.on('exit', (code) => {
      for (const w of this.waiting.values()) w.reject(new Error(`the TF.js cpu child process exited (code ${code})`));
      this.waiting.clear();
    });
  }

  private request<T>(r: Body): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...r, id });
    });
  }

  /** A contender for `spec` living in the child. */
  async trainer(spec: TaskSpec): Promise<TrainingContender> {
    const { handle, version } = await this.request<{ handle: number; version: string }>({ op: 'open', spec });
    this.version = version;
    const rows = spec.kind === 'iris' ? 150 : spec.rows;
    return {
      name: 'TF.js cpu',
      rows,
      train: (epochs) => this.request<number[]>({ op: 'train', handle, epochs }),
      dispose: () => this.request<void>({ op: 'dispose', handle }),
    };
  }

  close(): void {
    this.child.disconnect();
  }
}
