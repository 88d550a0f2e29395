// Builds the npm package into dist/: the library entry (src/index.ts, runs in browsers and in
// Node) and the CLI (src/cli/main.ts). WGSL files are inlined as strings (`?raw` imports);
// dependencies stay external, resolved from node_modules at run time.
import { defineConfig } from 'vite';

export default defineConfig({
  build: {
    ssr: true,
    outDir: 'dist',
    emptyOutDir: true,
    target: 'node20',
    sourcemap: true,
    rollupOptions: {
      input: { index: 'src/index.ts', cli: 'src/cli/main.ts' },
      output: {
        entryFileNames: '[name].js',
        // The code the two entries share is the library itself: its chunk is named so (Rollup
        // would name it after one of its modules, and stack traces would point into "selfcheck").
        // The data sets are loaded on demand and keep their names.
        chunkFileNames: (chunk) => (chunk.isDynamicEntry ? 'chunks/[name]-[hash].js' : 'chunks/altreg-[hash].js'),
        format: 'es',
      },
    },
  },
});
