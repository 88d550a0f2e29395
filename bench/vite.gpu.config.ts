// Builds the benchmark as one self-contained file, bench/dist/gpu/main.js, for a GPU machine
// without node_modules (bench/gpu-machine.sh): commander, TF.js and jax-js are bundled in; only
// Dawn (`webgpu`, a native addon loaded at run time) stays outside. Run after `npm run prebench`,
// which empties bench/dist/.
import { defineConfig } from 'vite';

export default defineConfig({
  ssr: { noExternal: true, external: ['webgpu'] },
  build: {
    ssr: 'bench/main.ts',
    outDir: 'bench/dist/gpu',
    emptyOutDir: false,
    target: 'node20',
    rollupOptions: {
      output: { entryFileNames: 'main.js', format: 'es', codeSplitting: false },
    },
  },
});
