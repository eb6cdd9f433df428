import { Value } from "@sinclair/typebox/value";
import { ConfigSchema, type Config, type ProviderConfig } from "../../schemas/config.ts";
import { digestOf, type ConfigResult } from "./load.ts";

// The embedded defaults, used when no sluice.yaml exists: loopback only, and one provider for
// each well-known API key found in the environment. A provider uses its native executor kind
// when a plugin for it is loaded, else the vendor's OpenAI-compatible endpoint.

interface Vendor {
  env: string;
  id: string;
  native: { kind: string; base_url: string };
  compatible: { kind: "openai"; base_url: string };
  models: string[];
}

const VENDORS: Vendor[] = [
  {
    env: "OPENAI_API_KEY", id: "openai",
    native: { kind: "openai", base_url: "https://api.openai.com/v1" },
    compatible: { kind: "openai", base_url: "https://api.openai.com/v1" },
    models: ["gpt-*", "o1*", "o3*", "o4*", "chatgpt-*", "text-embedding-*"],
  },
  {
    env: "ANTHROPIC_API_KEY", id: "anthropic",
    native: { kind: "anthropic", base_url: "https://api.anthropic.com" },
    compatible: { kind: "openai", base_url: "https://api.anthropic.com/v1" },
    models: ["claude-*"],
  },
  {
    env: "GEMINI_API_KEY", id: "gemini",
    native: { kind: "gemini", base_url: "https://generativelanguage.googleapis.com" },
    compatible: { kind: "openai", base_url: "https://generativelanguage.googleapis.com/v1beta/openai" },
    models: ["gemini-*", "gemma-*"],
  },
];

export function defaultConfig(env: Record<string, string | undefined>, kinds: ReadonlySet<string>): ConfigResult {
  const providers: ProviderConfig[] = [];
  for (const vendor of VENDORS) {
    const key = env[vendor.env];
    if (!key) continue;
    const endpoint = kinds.has(vendor.native.kind) ? vendor.native : vendor.compatible;
    providers.push(Value.Default(ConfigSchema.properties.providers.items, {
      id: vendor.id, kind: endpoint.kind, base_url: endpoint.base_url, api_key: key, models: vendor.models,
    }) as ProviderConfig);
  }
  const config = Value.Default(ConfigSchema, { providers }) as Config;
  return { ok: true, config, digest: digestOf(config) };
}
