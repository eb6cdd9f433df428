import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { startServer, type Running } from "../../core/cli/serve.ts";
import type { Plugin } from "../../core/plugins/hooks.ts";
import { builtinPlugins } from "../../plugins/builtin.ts";

export interface TestGateway extends Running {
  dir: string;
  configPath: string;
  /** Everything the gateway logged, one JSON object per line. */
  logs: () => Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export function tempDir(prefix = "sluice-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Start a real gateway on 127.0.0.1 and a random port, with its config file and data in a temp dir. */
export async function startGateway(yaml: string, options: { plugins?: Plugin[]; env?: NodeJS.ProcessEnv } = {}): Promise<TestGateway> {
  const dir = tempDir();
  const configPath = join(dir, "sluice.yaml");
  // Token-estimate sampling is random (5 % by default): off unless a test sets it, so that
  // request timelines are exact.
  writeFileSync(configPath, /^tokens:/m.test(yaml) ? yaml : `${yaml}\ntokens: { estimate_sample: 0 }\n`);
  const lines: string[] = [];
  const logger = pino({ level: "debug", redact: { paths: ["authorization", "*.authorization", "api_key", "*.api_key"], censor: "[redacted]" } }, {
    write: (line: string) => {
      lines.push(line);
    },
  });
  const running = await startServer(
    { config: configPath, port: 0, host: "127.0.0.1", data: join(dir, "data") },
    options.plugins ?? builtinPlugins,
    { logger, ...(options.env ? { env: options.env } : {}) },
  );
  return {
    ...running,
    dir,
    configPath,
    logs: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    async close() {
      await running.stop("test");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A minimal config with one OpenAI-compatible provider at `baseUrl`. */
export function oneProvider(baseUrl: string, extra = ""): string {
  return `providers:
  - id: local
    kind: openai
    base_url: ${baseUrl}
    api_key: sk-test-provider-key-123456
    models: [fake-model, other-model]
${extra}`;
}
