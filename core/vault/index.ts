export {
  ARGON2_PARAMS, defaultKdf, isValidName, keySourceFromEnv, NAME_PATTERN, SCRYPT_PARAMS, Vault, VAULT_FILE, VaultError,
  type Kdf, type KeySource, type VaultEntry, type VaultFile,
} from "./vault.ts";
export { checkVaultRefs, refName, resolveProvider, VAULT_PREFIX, vaultRefs, vaultSecrets, type VaultRef } from "./refs.ts";
