#!/usr/bin/env node
// The `altreg` command line: parses flags (commander), runs the command, maps failures to exit
// codes (2: bad usage or input, 1: runtime failure) with a one-line message.

import { Command, CommanderError } from 'commander';
import { runSelfCheck } from '../kernels/selfcheck.js';
import { sharedGpu } from '../runtime/gpu.js';

// Mesa reads EGL_PLATFORM when Dawn's GL backend starts: headless machines have no display.
process.env.EGL_PLATFORM ??= 'surfaceless';

async function selfCheck(): Promise<number> {
  const gpu = await sharedGpu();
  process.stderr.write(`adapter: ${gpu.name}\n`);
  const results = await runSelfCheck(gpu, (r) => {
    process.stdout.write(`${r.ok ? 'ok  ' : 'FAIL'}  ${r.name.padEnd(78)} error ${r.error.toExponential(2)} (limit ${r.limit.toExponential(0)})\n`);
  });
  const failed = results.filter((r) => !r.ok).length;
  process.stdout.write(`${results.length - failed}/${results.length} kernel checks passed on ${gpu.name}\n`);
  return failed === 0 ? 0 : 1;
}

export function buildProgram(): Command {
  const program = new Command('altreg')
    .description('Train MLPs on WebGPU with scheduled L2 penalties, and measure whether the schedules help.')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  program
    .command('selfcheck')
    .description('run every GPU kernel against its CPU twin on the chosen adapter')
    .action(async () => {
      process.exitCode = await selfCheck();
    });
  program
    .command('demo')
    .description('the main job: for now, the kernel self-check on the best adapter available')
    .action(async () => {
      process.exitCode = await selfCheck();
    });
  return program;
}

async function main(): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? 0 : 2;
    } else {
      process.stderr.write(`altreg: ${(error as Error).message}\n`);
      process.exitCode = 1;
    }
  }
  // Dawn can keep the event loop alive after the work is done.
  process.exit(process.exitCode ?? 0);
}

void main();
