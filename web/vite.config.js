// Vite build of the web console into dist/ (served by `rask server` at /). `npm run dev`
// serves it with hot reload and forwards /api to a running server ($RASK_SERVER, default
// http://127.0.0.1:8081).
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "dist",
    sourcemap: false,
    chunkSizeWarningLimit: 1500,
  },
  server: {
    proxy: {
      "/api": { target: process.env.RASK_SERVER ?? "http://127.0.0.1:8081", changeOrigin: true },
    },
  },
});
