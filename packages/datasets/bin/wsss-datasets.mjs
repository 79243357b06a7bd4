#!/usr/bin/env node
import { runDatasetsCli } from '../dist/cli.js';

process.exitCode = await runDatasetsCli(process.argv.slice(2));
