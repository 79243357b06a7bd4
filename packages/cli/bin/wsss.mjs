#!/usr/bin/env node
// The `wsss` command: runs the built CLI (dist/main.js). Build it with `npm run build -w @wsss/cli`.
import { main } from '../dist/main.js';

process.exit(await main(process.argv.slice(2)));
