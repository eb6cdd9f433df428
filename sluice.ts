#!/usr/bin/env bun
// The composition root: the CLI plus the built-in plugins. `core/` never imports `plugins/`;
// this file is where the two meet, so the compiled binary carries both.
import { main } from "./core/cli/main.ts";
import { builtinPlugins } from "./plugins/builtin.ts";

const code = await main(process.argv.slice(2), builtinPlugins);
// A failed start may leave handles open (watchers, the log): do not wait for them.
if (code !== 0) process.exit(code);
process.exitCode = code;
