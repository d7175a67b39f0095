// Vite build of the Moth console: three pages (client at /, /dashboard/, /monitor/), everything bundled into
// dist/ (no CDN, no external fonts) so mothd can embed or serve it offline.
//
// `npm run dev` proxies the API and the MQTT WebSocket to a running mothd HTTP listener (MOTH_HTTP, default
// http://127.0.0.1:8080), so the pages behave as when mothd serves them.
import { resolve } from "node:path";
import { defineConfig } from "vite";

const target = process.env.MOTH_HTTP ?? "http://127.0.0.1:8080";

export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1024,
    rollupOptions: {
      input: {
        client: resolve(__dirname, "index.html"),
        dashboard: resolve(__dirname, "dashboard/index.html"),
        monitor: resolve(__dirname, "monitor/index.html"),
      },
      // Stable file names (no content hash): mothd embeds these files and the build lists them once at configure
      // time, so a rebuild must not rename them. index.html is served with Cache-Control: no-cache.
      output: {
        entryFileNames: "assets/[name].js",
        chunkFileNames: "assets/[name].js",
        assetFileNames: "assets/[name][extname]",
      },
    },
  },
  server: {
    proxy: {
      "/api": { target, changeOrigin: true },
      "/metrics": { target, changeOrigin: true },
      "/mqtt": { target, ws: true, changeOrigin: true },
    },
  },
});
