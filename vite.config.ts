// The browser app (web/): `npm run dev` serves it, `npm run build:web` writes web-dist/.
// Pages: index.html (training app), selfcheck.html (kernel checks), bench.html (benchmarks).
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

export default defineConfig({
  root: 'web',
  server: { host: '127.0.0.1', port: 5199, strictPort: true },
  preview: { host: '127.0.0.1', port: 5199, strictPort: true },
  // Pre-bundled at start, so that the dev server never reloads a page mid-test to add them.
  optimizeDeps: { include: ['uplot', 'papaparse', '@tensorflow/tfjs', '@tensorflow/tfjs-backend-webgpu'] },
  build: {
    outDir: '../web-dist',
    emptyOutDir: true,
    target: 'es2022',
    rollupOptions: {
      input: {
        index: resolve(import.meta.dirname, 'web/index.html'),
        bench: resolve(import.meta.dirname, 'web/bench.html'),
        selfcheck: resolve(import.meta.dirname, 'web/selfcheck.html'),
      },
    },
  },
});
