import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The app calls /graphql on its own origin; the dev server and `vite preview`
// pass it on to the router (`cargo run` serves it on port 4000). Only the
// origin of GRAPHQL_URL counts: the router answers on /graphql.
const router = new URL(process.env.GRAPHQL_URL ?? 'http://127.0.0.1:4000').origin;

// http-proxy pipes the response through as it arrives, so the order page's
// multipart subscription streams; changeOrigin sets Host to the router's.
const proxy = { '/graphql': { target: router, changeOrigin: true } };

export default defineConfig({
  plugins: [react()],
  server: {
    proxy,
    // The trusted documents manifest lives in ../../router-config, outside
    // this folder, which the dev server would otherwise refuse to serve.
    fs: { allow: ['.', '../../router-config'] },
  },
  preview: { proxy },
  build: {
    // React, React Router, Apollo Client and graphql-js come to about 650 kB
    // (190 kB gzipped); all of graphql-js, as @apollo/persisted-query-lists
    // is CommonJS and requires the whole package.
    chunkSizeWarningLimit: 700,
  },
});
