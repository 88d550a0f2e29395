// Builds the benchmarks (bench/main.ts) into bench/dist/ for Node; WGSL inlined, deps external.
import { defineConfig } from 'vite';

export default defineConfig({
  build: {
    ssr: true,
    outDir: 'bench/dist',
    emptyOutDir: true,
    target: 'node20',
    rollupOptions: {
      input: { main: 'bench/main.ts' },
      output: { entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js', format: 'es' },
    },
  },
});
