import type { Plugin } from "../core/plugins/hooks.ts";
import anthropic from "./executors/anthropic.ts";
import azureOpenai from "./executors/azure-openai.ts";
import gemini from "./executors/gemini.ts";
import ollama from "./executors/ollama.ts";
import openai from "./executors/openai.ts";
import { builtinCompressors } from "./compressors/index.ts";

/** The plugins that ship with Sluice. They register through the same hooks a user's plugin does. */
export const builtinPlugins: Plugin[] = [openai, anthropic, gemini, azureOpenai, ollama, ...builtinCompressors];
