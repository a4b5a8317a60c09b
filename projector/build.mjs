// Builds the projector into the Python package (the built files are committed: users need no Node.js).
// npm ci && npm run build
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';

const out = new URL('../src/embspace/serve/static/projector/', import.meta.url).pathname;
mkdirSync(out, { recursive: true });
await build({
  entryPoints: ['src/main.js'], bundle: true, minify: true, format: 'iife', target: ['chrome100', 'firefox100',
    'safari15'], outfile: `${out}projector.js`, legalComments: 'eof', logLevel: 'info',
});
copyFileSync('src/projector.css', `${out}projector.css`);
copyFileSync('index.html', `${out}index.html`);
