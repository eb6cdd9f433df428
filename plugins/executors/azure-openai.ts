import type { ExecutorPlugin } from "../../core/plugins/hooks.ts";
import { openaiEmbed } from "./openai.ts";

/**
 * Azure OpenAI (`POST {base_url}/openai/deployments/{deployment}/chat/completions?api-version=…`).
 * `base_url` is the resource endpoint, e.g. `https://my-resource.openai.azure.com`. Options:
 *   api_version: string                   (default "2024-10-21", the current GA version)
 *   deployments: { <model>: <deployment> } (default: the deployment is named like the model)
 * Auth is the `api-key` header.
 */
export const DEFAULT_API_VERSION = "2024-10-21";

function settings(options: Record<string, unknown> | undefined): { apiVersion: string; deployments: Record<string, string> } {
  const apiVersion = options?.api_version ?? DEFAULT_API_VERSION;
  if (typeof apiVersion !== "string" || apiVersion === "") {
    throw new Error(`azure-openai: options.api_version must be a non-empty string, got ${JSON.stringify(apiVersion)}`);
  }
  const deployments = options?.deployments ?? {};
  if (typeof deployments !== "object" || deployments === null || Array.isArray(deployments)) {
    throw new Error(`azure-openai: options.deployments must be a map of model name to deployment name, got ${JSON.stringify(deployments)}`);
  }
  for (const [model, deployment] of Object.entries(deployments)) {
    if (typeof deployment !== "string" || deployment === "") {
      throw new Error(`azure-openai: options.deployments.${model} must be a non-empty string, got ${JSON.stringify(deployment)}`);
    }
  }
  return { apiVersion, deployments: deployments as Record<string, string> };
}

export default {
  hook: "executor",
  kind: "azure-openai",
  dialect: "openai-chat",
  request: (ir, provider) => {
    if (!provider.base_url) throw new Error("azure-openai: base_url is required (https://<resource>.openai.azure.com)");
    const { apiVersion, deployments } = settings(provider.options);
    const deployment = Object.hasOwn(deployments, ir.model) ? deployments[ir.model]! : ir.model;
    const root = provider.base_url.replace(/\/+$/, "");
    return {
      url: `${root}/openai/deployments/${encodeURIComponent(deployment)}/chat/completions?api-version=${encodeURIComponent(apiVersion)}`,
      headers: { "api-key": provider.api_key },
    };
  },
  embed: (request, ctx) => {
    const { provider } = ctx;
    if (!provider.base_url) throw new Error("azure-openai: base_url is required (https://<resource>.openai.azure.com)");
    const { apiVersion, deployments } = settings(provider.options);
    const deployment = Object.hasOwn(deployments, request.model) ? deployments[request.model]! : request.model;
    const root = provider.base_url.replace(/\/+$/, "");
    const url = `${root}/openai/deployments/${encodeURIComponent(deployment)}/embeddings?api-version=${encodeURIComponent(apiVersion)}`;
    return openaiEmbed("azure-openai", url, { "api-key": provider.api_key }, request, ctx);
  },
} satisfies ExecutorPlugin;
