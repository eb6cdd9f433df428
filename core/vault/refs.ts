import type { Config, ProviderConfig } from "../../schemas/config.ts";
import { isValidName, KEY_ENV_HINT, VaultError, type Vault } from "./vault.ts";

// Config references to vault entries: a value `vault:NAME` in `providers[].api_key` or in a
// `providers[].headers` value means "the vault entry NAME". The config keeps the reference;
// the value is decrypted only where an executor is called (resolveProvider).

export const VAULT_PREFIX = "vault:";

export interface VaultRef {
  /** Key path in the config, e.g. `providers[0].api_key`, `providers[1].headers.x-api-key`. */
  path: string;
  name: string;
}

/** The entry name a value refers to, or undefined if it is not a vault reference. */
export function refName(value: unknown): string | undefined {
  return typeof value === "string" && value.startsWith(VAULT_PREFIX) ? value.slice(VAULT_PREFIX.length) : undefined;
}

function providerRefs(provider: ProviderConfig, at: string): VaultRef[] {
  const refs: VaultRef[] = [];
  const key = refName(provider.api_key);
  if (key !== undefined) refs.push({ path: `${at}.api_key`, name: key });
  for (const [header, value] of Object.entries(provider.headers ?? {})) {
    const name = refName(value);
    if (name !== undefined) refs.push({ path: `${at}.headers.${header}`, name });
  }
  return refs;
}

/** Every vault reference in the config, with its key path. */
export function vaultRefs(config: Pick<Config, "providers">): VaultRef[] {
  return config.providers.flatMap((provider, i) => providerRefs(provider, `providers[${i}]`));
}

/**
 * The provider with its vault references replaced by the decrypted values: call it right where
 * an executor is called, and let the copy go out of scope with the attempt. Returns the same
 * object when it has no reference. Throws a VaultError (no key, missing entry, altered file).
 */
export function resolveProvider(provider: ProviderConfig, vault: Vault | undefined): ProviderConfig {
  const refs = providerRefs(provider, `provider ${provider.id}`);
  if (refs.length === 0) return provider;
  if (!vault) throw new VaultError(`vault: ${refs[0]!.path} refers to vault entry "${refs[0]!.name}", but no vault is open`);
  const out: ProviderConfig = { ...provider, headers: { ...provider.headers } };
  const key = refName(provider.api_key);
  if (key !== undefined) out.api_key = vault.get(key);
  for (const [header, value] of Object.entries(provider.headers ?? {})) {
    const name = refName(value);
    if (name !== undefined) out.headers[header] = vault.get(name);
  }
  return out;
}

/**
 * For start-up and reload: undefined when every reference resolves (each one is decrypted once
 * to prove it), else one line naming the key path and the entry. Never contains a value.
 */
export function checkVaultRefs(config: Pick<Config, "providers">, vault: Vault | undefined): string | undefined {
  for (const ref of vaultRefs(config)) {
    if (!isValidName(ref.name)) {
      return `${ref.path}: ${JSON.stringify(ref.name.slice(0, 80))} is not a valid vault entry name (expected 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit)`;
    }
    if (!vault || !vault.hasKey) return `${ref.path}: refers to vault entry "${ref.name}", but no vault key is set (set ${KEY_ENV_HINT})`;
    try {
      if (!vault.has(ref.name)) return `${ref.path}: vault entry "${ref.name}" does not exist in ${vault.path} (add it with: sluice vault set ${ref.name})`;
      vault.get(ref.name);
    } catch (error) {
      if (error instanceof VaultError) return `${ref.path}: ${error.message}`;
      throw error;
    }
  }
  return undefined;
}

/**
 * The decrypted values the config refers to, to add to the gateway's scrub list (an upstream
 * error body can echo a key back). Entries that do not decrypt are left out (checkVaultRefs
 * reports them).
 */
export function vaultSecrets(config: Pick<Config, "providers">, vault: Vault | undefined): string[] {
  if (!vault || !vault.hasKey) return [];
  const values = new Set<string>();
  for (const ref of vaultRefs(config)) {
    try {
      const value = vault.get(ref.name);
      if (value.length >= 4) values.add(value);
    } catch {
      // reported by checkVaultRefs
    }
  }
  return [...values];
}
