// Node tests: every *.test.ts beside the code it tests, on a real WebGPU adapter (Dawn).
import { defineConfig } from 'vitest/config';

// Mesa reads EGL_PLATFORM from the process environment when Dawn's GL backend starts; test
// workers inherit it from here (a worker setting it at run time is too late for Mesa).
process.env.EGL_PLATFORM ??= 'surfaceless';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'bench/**/*.test.ts', 'scripts/**/*.test.ts'],
    // Dawn is a native addon: one process per test file keeps its instances apart.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
