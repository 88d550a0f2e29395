// Progress lines without a terminal: every tenth of the run, and at least every LINE_SECONDS so
// that a long run shows it is alive. On a terminal, the bar gives the cursor and line wrap back
// however the run ends.
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { EpochRecord } from '../runtime/plan.js';
import { createProgress, LINE_SECONDS } from './progress.js';

const record = (loss: number): EpochRecord => ({ epoch: 0, loss, penalty: 0, mask: [], trainAccuracy: 0.5, weightNorms: {} });

afterEach(() => vi.useRealTimers());

describe('progress lines (stderr not a terminal)', () => {
  it('a line every tenth of the run, and one after LINE_SECONDS even between tenths', () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const lines: string[] = [];
    const write = vi.spyOn(process.stderr, 'write').mockImplementation((text) => (lines.push(String(text)), true));
    const tty = process.stderr.isTTY;
    process.stderr.isTTY = false;
    try {
      const progress = createProgress(1000, '1 model', false);
      for (let e = 0; e < 150; e++) progress.epoch(e, [record(0.5)]);
      expect(lines).toEqual(['1 model: epoch 100/1000: loss 0.5000, train acc 0.500\n']);
      vi.advanceTimersByTime(LINE_SECONDS * 1000 - 1);
      progress.epoch(150, [record(0.25)]);
      expect(lines).toHaveLength(1);
      vi.advanceTimersByTime(1);
      progress.epoch(151, [record(0.25), record(0.75)]);
      expect(lines.at(-1)).toBe('1 model: epoch 152/1000: loss 0.5000, train acc 0.500 (mean over models)\n');
      progress.stop();
    } finally {
      process.stderr.isTTY = tty;
      write.mockRestore();
    }
  });
});

describe('a long epoch', () => {
  it('without a terminal: a step line after LINE_SECONDS without an epoch; on a terminal: the step beside the epoch', () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const lines: string[] = [];
    const stream = Object.assign(new Writable({ write: (chunk, _, done) => (lines.push(String(chunk)), done()) }), { isTTY: false }) as unknown as NodeJS.WriteStream;
    const progress = createProgress(30, '2 models', false, stream);
    progress.epoch(0, [record(0.5)]);
    lines.length = 0;
    progress.step(100, 938);
    vi.advanceTimersByTime(LINE_SECONDS * 1000 - 1);
    progress.step(200, 938);
    expect(lines).toEqual([]);
    vi.advanceTimersByTime(1);
    progress.step(300, 938);
    expect(lines).toEqual(['2 models: epoch 2/30: step 300/938\n']);
    // The clock restarts at a line: the next step line comes LINE_SECONDS later.
    vi.advanceTimersByTime(LINE_SECONDS * 1000 - 1);
    progress.step(400, 938);
    expect(lines).toHaveLength(1);
    progress.stop();

    const terminal = fakeTerminal();
    const bar = createProgress(30, '2 models', false, terminal.stream);
    bar.step(120, 938);
    bar.stop();
    expect(terminal.written()).toContain('epoch 0/30 · step 120/938');
  });
});

describe('a resumed run', () => {
  it('counts the epochs of the whole run: 100 more after 300 go from 301/400 to 400/400', () => {
    const lines: string[] = [];
    const stream = Object.assign(new Writable({ write: (chunk, _, done) => (lines.push(String(chunk)), done()) }), { isTTY: false }) as unknown as NodeJS.WriteStream;
    const progress = createProgress(400, '3 models', false, stream, 300);
    for (let e = 300; e < 400; e++) progress.epoch(e, [record(0.5)]);
    // A line every tenth of the whole run, the last at its end.
    expect(lines.map((l) => l.split(':')[1])).toEqual([' epoch 320/400', ' epoch 360/400', ' epoch 400/400']);
    progress.stop();
    // The bar starts at the epochs trained before, and the last redraw (at stop) shows the run's end.
    const resumedOnce = fakeTerminal();
    const bar = createProgress(2, '1 model', false, resumedOnce.stream, 1);
    expect(resumedOnce.written()).toContain('epoch 1/2');
    bar.epoch(1, [record(0.5)]);
    bar.stop();
    expect(resumedOnce.written()).toContain('epoch 2/2');
  });
});

/** A terminal that keeps what is written to it. */
function fakeTerminal(): { stream: NodeJS.WriteStream; written: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { stream: Object.assign(stream, { isTTY: true, columns: 120 }) as unknown as NodeJS.WriteStream, written: () => chunks.join('') };
}

const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
const WRAP_OFF = '\x1b[?7l';
const WRAP_ON = '\x1b[?7h';

type Listener = (arg?: unknown) => void;

function listeners(event: 'SIGINT' | 'SIGTERM' | 'exit'): Listener[] {
  return process.listeners(event as 'SIGINT') as Listener[];
}

/** The listeners createProgress adds for `event`: called directly, so that no other listener of the test process runs. */
function added(event: 'SIGINT' | 'SIGTERM' | 'exit', before: Listener[]): Listener[] {
  return listeners(event).filter((l) => !before.includes(l));
}

describe('progress bar (stderr a terminal)', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} stops the bar, restoring the cursor and line wrap, then ends the process with the same signal`, () => {
      const kill = vi.spyOn(process, 'kill').mockImplementation(() => true);
      const before = { SIGINT: listeners('SIGINT'), SIGTERM: listeners('SIGTERM'), exit: listeners('exit') };
      const terminal = fakeTerminal();
      try {
        const progress = createProgress(300, '5 models', false, terminal.stream);
        progress.epoch(0, [record(0.5)]);
        expect(terminal.written()).toContain(HIDE_CURSOR);
        expect(terminal.written()).toContain(WRAP_OFF);
        expect(terminal.written()).not.toContain(SHOW_CURSOR);
        const [onSignal] = added(signal, before[signal]);
        onSignal(signal);
        const after = terminal.written().slice(terminal.written().lastIndexOf(WRAP_OFF));
        expect(after).toContain(SHOW_CURSOR);
        expect(after).toContain(WRAP_ON);
        expect(kill).toHaveBeenCalledWith(process.pid, signal);
        // Every listener is gone, so the signal sent again ends the process as it would have.
        for (const event of ['SIGINT', 'SIGTERM', 'exit'] as const) expect(added(event, before[event])).toEqual([]);
        // A later stop (the command's finally) writes nothing more.
        const length = terminal.written().length;
        progress.stop();
        expect(terminal.written()).toHaveLength(length);
      } finally {
        kill.mockRestore();
      }
    });
  }

  it('the process exiting (an error, process.exit) stops the bar too; a stopped bar leaves no listener', () => {
    const before = { SIGINT: listeners('SIGINT'), SIGTERM: listeners('SIGTERM'), exit: listeners('exit') };
    const terminal = fakeTerminal();
    createProgress(10, '1 model', false, terminal.stream);
    const [onExit] = added('exit', before.exit);
    onExit();
    expect(terminal.written().endsWith(`${SHOW_CURSOR}${WRAP_ON}\x1b8\n`)).toBe(true);
    for (const event of ['SIGINT', 'SIGTERM', 'exit'] as const) expect(added(event, before[event])).toEqual([]);

    const stopped = fakeTerminal();
    createProgress(10, '1 model', false, stopped.stream).stop();
    expect(stopped.written()).toContain(SHOW_CURSOR);
    for (const event of ['SIGINT', 'SIGTERM', 'exit'] as const) expect(added(event, before[event])).toEqual([]);
  });
});

describe('an interruption (Ctrl-C, kill)', () => {
  for (const mode of ['quiet', 'lines', 'terminal'] as const) {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      it(`${mode}: ${signal} says after which epoch of the whole run it stopped and what was not written, then ends the process with ${signal}`, () => {
        const kill = vi.spyOn(process, 'kill').mockImplementation(() => true);
        const before = { SIGINT: listeners('SIGINT'), SIGTERM: listeners('SIGTERM'), exit: listeners('exit') };
        const chunks: string[] = [];
        const terminal = fakeTerminal();
        const lines = Object.assign(new Writable({ write: (chunk, _, done) => (chunks.push(String(chunk)), done()) }), { isTTY: false }) as unknown as NodeJS.WriteStream;
        const stream = mode === 'terminal' ? terminal.stream : lines;
        const written = () => (mode === 'terminal' ? terminal.written() : chunks.join(''));
        try {
          // Resumed after 10 of 40 epochs, then 2 more trained: 12 of the run's 40 done.
          const progress = createProgress(40, '2 models', mode === 'quiet', stream, 10, 'nothing was saved to ckpt');
          progress.epoch(10, [record(0.5)]);
          progress.epoch(11, [record(0.5)]);
          const [onSignal] = added(signal, before[signal]);
          onSignal(signal);
          // On a line of its own, after the bar or the progress lines.
          expect(written().split('\n').slice(-2)).toEqual([`altreg: interrupted (${signal}) after epoch 12/40; nothing was saved to ckpt`, '']);
          if (mode === 'terminal') expect(written().slice(written().lastIndexOf(WRAP_OFF))).toContain(SHOW_CURSOR);
          expect(kill).toHaveBeenCalledWith(process.pid, signal);
          for (const event of ['SIGINT', 'SIGTERM', 'exit'] as const) expect(added(event, before[event])).toEqual([]);
          const length = written().length;
          progress.stop();
          expect(written()).toHaveLength(length);
        } finally {
          kill.mockRestore();
        }
      });
    }
  }

  it('with nothing to write, the line says where it stopped only; a stopped run leaves no listener', () => {
    const kill = vi.spyOn(process, 'kill').mockImplementation(() => true);
    const before = { SIGINT: listeners('SIGINT'), SIGTERM: listeners('SIGTERM'), exit: listeners('exit') };
    const chunks: string[] = [];
    const stream = Object.assign(new Writable({ write: (chunk, _, done) => (chunks.push(String(chunk)), done()) }), { isTTY: false }) as unknown as NodeJS.WriteStream;
    try {
      createProgress(3, '1 model', true, stream);
      added('SIGINT', before.SIGINT)[0]('SIGINT');
      expect(chunks).toEqual(['altreg: interrupted (SIGINT) after epoch 0/3\n']);
      createProgress(3, '1 model', true, stream).stop();
      for (const event of ['SIGINT', 'SIGTERM', 'exit'] as const) expect(added(event, before[event])).toEqual([]);
    } finally {
      kill.mockRestore();
    }
  });
});
