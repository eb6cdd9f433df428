import type { CompressorPlugin } from "../../core/plugins/hooks.ts";
import buildErrors from "./build-errors.ts";
import git from "./git.ts";
import grep from "./grep.ts";
import json from "./json.ts";
import lint from "./lint.ts";
import listing from "./listing.ts";
import logDedupe from "./log-dedupe.ts";
import stackTrace from "./stack-trace.ts";
import testOutput from "./test-output.ts";
import whitespace from "./whitespace.ts";

/**
 * The built-in compressors, in the order they run: the specific kinds of tool output first,
 * whitespace last. Each only changes text it recognises, and only in the newest turn.
 */
export const builtinCompressors: CompressorPlugin[] = [git, testOutput, buildErrors, lint, stackTrace, listing, grep, json, logDedupe, whitespace];
