import { fileURLToPath } from 'node:url';

import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

import { thirdPartyLicenses } from './licenses.ts';

// The router serves this folder under /playground/ (src/router/playground.rs).
const outDir = fileURLToPath(new URL('../router-config/playground', import.meta.url));
const licenses = thirdPartyLicenses('THIRD-PARTY-LICENSES.txt');

export default defineConfig({
  base: '/playground/',
  plugins: [react(), licenses.plugin],
  // Monaco's workers are separate bundles: their packages need listing too.
  worker: { plugins: () => [licenses.workerPlugin()] },
  build: {
    outDir,
    emptyOutDir: true,
    sourcemap: false,
    // Monaco's editor is one chunk of about 2 MB; it cannot be split further.
    chunkSizeWarningLimit: 2500,
    rolldownOptions: {
      onLog(level, log, handler) {
        // GraphiQL's React Compiler output marks modules "use no memo", which only its compiler reads.
        if (log.code !== 'MODULE_LEVEL_DIRECTIVE') handler(level, log);
      },
    },
  },
  // `vite dev` serves the GraphQL worker's own imports unbundled; these two are
  // CommonJS (or import CommonJS), so they must be pre-bundled like the app's.
  optimizeDeps: { include: ['graphql-language-service', 'picomatch-browser'] },
  server: {
    proxy: { '/graphql': { target: 'http://127.0.0.1:4000', ws: true } },
    // The storefront's operations are read from ../router-config.
    fs: { allow: ['.', '../router-config/storefront'] },
  },
});
