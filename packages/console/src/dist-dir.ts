// Where the built console is (issue 16): the CLI hands this folder to the controller, which serves it under
// /console/. Built by `npm run build -w @edgetwin/console` (the root `prepare` runs it on npm install). A .ts
// under src/, so the production bundle (scripts/build.mjs) keeps import.meta.url pointing here. Node only:
// the page's entry (main.tsx) never imports it.
import { fileURLToPath } from 'node:url';

export const CONSOLE_DIST_DIR = fileURLToPath(new URL('../dist/', import.meta.url));
