import { createCipheriv, createHash, randomBytes, randomUUID, scryptSync } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test, vi } from "vitest";
import { main } from "../../core/cli/main.ts";
import { parseConfig } from "../../core/config/load.ts";
import {
  checkVaultRefs, keySourceFromEnv, resolveProvider, Vault, VaultError, vaultRefs, vaultSecrets, type KeySource, type VaultFile,
} from "../../core/vault/index.ts";
import type { Config } from "../../schemas/config.ts";
import { tempDir } from "../support/gateway.ts";
import { ROOT, expectOneLine, sluice } from "../support/cli.ts";

// The secrets vault (issue 6.4; RELIABILITY §3.4 T19/T20): AES-256-GCM at rest, AAD = entry
// name, key raw or from argon2id; fails closed; no secret in the file, messages or CLI output.

const newKey = () => randomBytes(32).toString("base64");
const rawSource = (key = newKey()): KeySource => keySourceFromEnv({ SLUICE_VAULT_KEY: key })!;
const canary = () => `sk-canary-prov-${randomUUID()}`;

/** Every encoding of a secret the H2 sweep looks for. */
function encodings(secret: string): string[] {
  const bytes = Buffer.from(secret, "utf8");
  const forms = [
    secret, bytes.toString("base64"), bytes.toString("base64url"), bytes.toString("hex"), encodeURIComponent(secret),
    createHash("sha256").update(secret).digest("hex"), secret.slice(0, 8), secret.slice(-8),
  ];
  // base64 at the three byte alignments (the secret inside a longer encoded string), without the
  // characters that depend on neighbouring bytes.
  for (const skip of [1, 2]) forms.push(bytes.subarray(skip).toString("base64").slice(0, -4));
  return forms.map((f) => f.replace(/=+$/, ""));
}

function expectNoSecret(text: string, secret: string) {
  for (const form of encodings(secret)) expect(text.toLowerCase(), `found an encoding of the secret: ${form.slice(0, 6)}…`).not.toContain(form.toLowerCase());
}

function readVault(dir: string): VaultFile {
  return JSON.parse(readFileSync(join(dir, "vault.json"), "utf8")) as VaultFile;
}

function writeVault(dir: string, file: VaultFile) {
  writeFileSync(join(dir, "vault.json"), JSON.stringify(file));
}

function flipBit(b64: string, bit = 0): string {
  const bytes = Buffer.from(b64, "base64");
  bytes[bit >> 3]! ^= 1 << (bit & 7);
  return bytes.toString("base64");
}

function expectVaultError(fn: () => unknown, message: string | RegExp) {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(VaultError);
  const text = (caught as Error).message;
  expect(text.split("\n")).toHaveLength(1);
  if (typeof message === "string") expect(text).toBe(message);
  else expect(text).toMatch(message);
  return text;
}

function config(yaml: string): Config {
  const result = parseConfig(yaml, "test.yaml", {});
  if (!result.ok) throw new Error(result.error);
  return result.config;
}


/** The CLI's main() in this process, its console output captured. */
async function inProcess(args: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((...parts: unknown[]) => void stdout.push(parts.join(" ")));
  const error = vi.spyOn(console, "error").mockImplementation((...parts: unknown[]) => void stderr.push(parts.join(" ")));
  try {
    const code = await main(args, []);
    return { code, stdout: stdout.map((l) => `${l}\n`).join(""), stderr: stderr.map((l) => `${l}\n`).join("") };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}


describe("vault: key sources and round trips", () => {
  test("SLUICE_VAULT_KEY: set, get, reopen, names, remove", () => {
    const dir = join(tempDir(), "data");
    const key = newKey();
    const secret = canary();
    const vault = Vault.open(dir, rawSource(key));
    expect(vault.names()).toEqual([]);
    expect(vault.exists).toBe(false);
    vault.set("anthropic", secret);
    vault.set("openai.prod_2-b", "sk-other");
    expect(vault.get("anthropic")).toBe(secret);
    expect(vault.has("anthropic")).toBe(true);
    expect(vault.has("nope")).toBe(false);
    expect(vault.names()).toEqual(["anthropic", "openai.prod_2-b"]);
    expect(readVault(dir).kdf).toEqual({ name: "raw" });

    const again = Vault.open(dir, rawSource(key));
    expect(again.get("anthropic")).toBe(secret);
    again.set("anthropic", "sk-replaced");
    expect(again.get("anthropic")).toBe("sk-replaced");
    // The first instance sees what another process wrote.
    expect(vault.get("anthropic")).toBe("sk-replaced");
    expect(again.remove("anthropic")).toBe(true);
    expect(again.remove("anthropic")).toBe(false);
    expect(vault.names()).toEqual(["openai.prod_2-b"]);
    expectVaultError(() => vault.get("anthropic"), /^vault: no entry "anthropic" in .*vault\.json$/);
  });

  test("SLUICE_VAULT_KEY_FILE: read when 0600, refused when group or others can access it", () => {
    const dir = tempDir();
    const key = newKey();
    const file = join(dir, "vault.key");
    writeFileSync(file, `${key}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    const source = keySourceFromEnv({ SLUICE_VAULT_KEY_FILE: file })!;
    expect(source.kind).toBe("key");
    Vault.open(join(dir, "data"), source).set("k", "sk-from-file");
    // The same key given directly opens it too.
    expect(Vault.open(join(dir, "data"), rawSource(key)).get("k")).toBe("sk-from-file");

    chmodSync(file, 0o640);
    const message = expectVaultError(() => keySourceFromEnv({ SLUICE_VAULT_KEY_FILE: file }), /^vault: SLUICE_VAULT_KEY_FILE .*vault\.key is accessible by group or others \(mode 640\); run: chmod 600 /);
    expect(message).not.toContain(key);
    chmodSync(file, 0o604);
    expectVaultError(() => keySourceFromEnv({ SLUICE_VAULT_KEY_FILE: file }), /accessible by group or others/);
    expectVaultError(() => keySourceFromEnv({ SLUICE_VAULT_KEY_FILE: join(dir, "missing") }), /^vault: cannot read SLUICE_VAULT_KEY_FILE .*missing: no such file$/);
  });

  test("key source order, empty values unset, and malformed keys named without their value", () => {
    expect(keySourceFromEnv({})).toBeUndefined();
    expect(keySourceFromEnv({ SLUICE_VAULT_KEY: "", SLUICE_VAULT_PASSPHRASE: "" })).toBeUndefined();
    expect(keySourceFromEnv({ SLUICE_VAULT_KEY: newKey(), SLUICE_VAULT_PASSPHRASE: "pw" })!.kind).toBe("key");
    expect(keySourceFromEnv({ SLUICE_VAULT_PASSPHRASE: "pw" })).toMatchObject({ kind: "passphrase", from: "SLUICE_VAULT_PASSPHRASE" });
    const short = randomBytes(16).toString("base64");
    const message = expectVaultError(() => keySourceFromEnv({ SLUICE_VAULT_KEY: short }), /^vault: SLUICE_VAULT_KEY must hold the base64 of 32 random bytes .*got 16 bytes$/);
    expect(message).not.toContain(short);
    expectVaultError(() => keySourceFromEnv({ SLUICE_VAULT_KEY: "sk-canary-not-base64!" }), /got something that is not base64$/);
  });

  test("passphrase: argon2id (m=64 MiB, t=2, p=1, 16-byte salt) round trip; wrong passphrase is a clear error", () => {
    const dir = tempDir();
    const passphrase = `pass-canary-${randomUUID()}`;
    const secret = canary();
    const source = keySourceFromEnv({ SLUICE_VAULT_PASSPHRASE: passphrase })!;
    Vault.open(dir, source).set("gemini", secret);
    const file = readVault(dir);
    expect(file.version).toBe(1);
    expect(file.kdf).toMatchObject({ name: "argon2id", memory: 65536, passes: 2, parallelism: 1 });
    expect(Buffer.from((file.kdf as { salt: string }).salt, "base64")).toHaveLength(16);

    // Another process (no cache shared) with the same passphrase.
    expect(Vault.open(dir, { kind: "passphrase", passphrase, from: "test" }).get("gemini")).toBe(secret);
    const started = performance.now();
    for (let i = 0; i < 50; i++) Vault.open(dir, source).get("gemini");
    expect(performance.now() - started).toBeLessThan(1000); // the key is derived once per process, not per get

    const wrong = Vault.open(dir, keySourceFromEnv({ SLUICE_VAULT_PASSPHRASE: `${passphrase}x` }));
    expect(wrong.names()).toEqual(["gemini"]); // names need no key
    const message = expectVaultError(() => wrong.get("gemini"), "vault: wrong passphrase or key (the vault check did not decrypt)");
    expect(message).not.toContain(passphrase);
    expectVaultError(() => wrong.set("other", "sk-x"), "vault: wrong passphrase or key (the vault check did not decrypt)");
    expect(readVault(dir).entries.other).toBeUndefined();
    expectVaultError(() => Vault.open(dir, rawSource()).get("gemini"), "vault: wrong passphrase or key (the vault check did not decrypt)");
    expectNoSecret(readFileSync(join(dir, "vault.json"), "utf8"), passphrase);
  });

  test("a scrypt vault (written where node:crypto has no argon2) opens with its passphrase", () => {
    const dir = tempDir();
    const salt = randomBytes(16);
    const kdf = { name: "scrypt" as const, N: 1024, r: 8, p: 1, salt: salt.toString("base64") };
    const key = scryptSync(Buffer.from("scrypt-pass"), salt, 32, { N: 1024, r: 8, p: 1 });
    const sealed = (plaintext: string, aad: string) => {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      cipher.setAAD(Buffer.from(aad));
      const data = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return { iv: iv.toString("base64"), tag: cipher.getAuthTag().toString("base64"), data: data.toString("base64") };
    };
    writeVault(dir, { version: 1, kdf, check: sealed("sluice-vault-check-v1", "#check"), entries: { s: { ...sealed("sk-scrypt", "s"), created_at: new Date().toISOString() } } });
    const vault = Vault.open(dir, { kind: "passphrase", passphrase: "scrypt-pass", from: "test" });
    expect(vault.get("s")).toBe("sk-scrypt");
    vault.set("t", "sk-t"); // the KDF on record is kept
    expect(readVault(dir).kdf).toEqual(kdf);
    expectVaultError(() => Vault.open(dir, { kind: "passphrase", passphrase: "nope", from: "test" }).get("s"), "vault: wrong passphrase or key (the vault check did not decrypt)");
  });

  test("a wrong raw key is the same clear error; a passphrase cannot open a raw-key vault", () => {
    const dir = tempDir();
    Vault.open(dir, rawSource()).set("a", "sk-a");
    expectVaultError(() => Vault.open(dir, rawSource()).get("a"), "vault: wrong passphrase or key (the vault check did not decrypt)");
    expectVaultError(() => Vault.open(dir, { kind: "passphrase", passphrase: "pw", from: "test" }).get("a"), /is opened with a raw key/);
  });

  test("without a key: names are readable, values are not", () => {
    const dir = tempDir();
    Vault.open(dir, rawSource()).set("a", "sk-a");
    const vault = Vault.open(dir);
    expect(vault.hasKey).toBe(false);
    expect(vault.names()).toEqual(["a"]);
    expect(vault.list()).toEqual([{ name: "a", created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) }]);
    expectVaultError(() => vault.get("a"), /^vault: no vault key is set \(set SLUICE_VAULT_KEY, SLUICE_VAULT_KEY_FILE or SLUICE_VAULT_PASSPHRASE\)$/);
    expectVaultError(() => Vault.open(tempDir()).set("a", "sk-a"), /no vault key is set/);
  });
});

describe("vault: fails closed", () => {
  test("one flipped bit in an entry's data, tag or nonce: authentication error", () => {
    const dir = tempDir();
    const source = rawSource();
    Vault.open(dir, source).set("anthropic", canary());
    const original = readVault(dir);
    for (const field of ["data", "tag", "iv"] as const) {
      for (const bit of [0, 7, 13]) {
        const file = structuredClone(original);
        file.entries.anthropic![field] = flipBit(file.entries.anthropic![field], bit);
        writeVault(dir, file);
        expectVaultError(() => Vault.open(dir, source).get("anthropic"), "vault: entry anthropic failed authentication (the file was altered)");
      }
    }
    // A truncated tag is refused rather than checked on fewer bytes.
    const short = structuredClone(original);
    short.entries.anthropic!.tag = Buffer.from(short.entries.anthropic!.tag, "base64").subarray(0, 4).toString("base64");
    writeVault(dir, short);
    expectVaultError(() => Vault.open(dir, source).get("anthropic"), /failed authentication/);
    // An altered check reads as a wrong key: nothing decrypts.
    const check = structuredClone(original);
    check.check.data = flipBit(check.check.data);
    writeVault(dir, check);
    expectVaultError(() => Vault.open(dir, source).get("anthropic"), "vault: wrong passphrase or key (the vault check did not decrypt)");
    writeVault(dir, original);
    expect(Vault.open(dir, source).get("anthropic")).toMatch(/^sk-canary-prov-/);
  });

  test("swapping two entries' ciphertexts fails (AAD = entry name)", () => {
    const dir = tempDir();
    const source = rawSource();
    const vault = Vault.open(dir, source);
    vault.set("a", "sk-value-of-a");
    vault.set("b", "sk-value-of-b");
    const file = readVault(dir);
    [file.entries.a, file.entries.b] = [{ ...file.entries.b!, created_at: file.entries.a!.created_at }, { ...file.entries.a!, created_at: file.entries.b!.created_at }];
    writeVault(dir, file);
    const reopened = Vault.open(dir, source);
    expectVaultError(() => reopened.get("a"), "vault: entry a failed authentication (the file was altered)");
    expectVaultError(() => reopened.get("b"), "vault: entry b failed authentication (the file was altered)");
  });

  test("a file that is not a vault, or of another version: one clear line", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "vault.json"), "{not json");
    expectVaultError(() => Vault.open(dir, rawSource()), /^vault: .*vault\.json is not a valid vault file \(not JSON\)$/);
    writeFileSync(join(dir, "vault.json"), JSON.stringify({ version: 2 }));
    expectVaultError(() => Vault.open(dir), /unsupported version 2/);
    writeFileSync(join(dir, "vault.json"), JSON.stringify({ version: 1, kdf: { name: "raw" }, check: { iv: "", tag: "", data: "" }, entries: { "../x": {} } }));
    expectVaultError(() => Vault.open(dir), /entry name "\.\.\/x" is not valid/);
  });

  test("entry names are checked; names that are Object.prototype keys are ordinary names", () => {
    const vault = Vault.open(tempDir(), rawSource());
    for (const bad of ["", "-lead", ".hidden", "a/b", "a b", "__proto__", "x".repeat(65), "ключ"]) {
      expectVaultError(() => vault.set(bad, "sk-x"), /^vault: invalid entry name /);
    }
    expect(vault.has("constructor")).toBe(false);
    expect(vault.has("toString")).toBe(false);
    expectVaultError(() => vault.get("constructor"), /no entry "constructor"/);
    vault.set("constructor", "sk-c");
    expect(vault.get("constructor")).toBe("sk-c");
    expect(vault.remove("toString")).toBe(false);
    expectVaultError(() => vault.set("ok", ""), "vault: the value is empty");
  });
});

describe("vault: the file on disk", () => {
  test("vault.json is 0600 in a 0700 dir, replaced atomically, with no temp or lock file left", () => {
    const root = tempDir();
    const dir = join(root, "nested", "data");
    const vault = Vault.open(dir, rawSource());
    vault.set("a", "sk-a");
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "vault.json")).mode & 0o777).toBe(0o600);
    const inode = statSync(join(dir, "vault.json")).ino;
    vault.set("b", "sk-b");
    expect(statSync(join(dir, "vault.json")).ino).not.toBe(inode); // a new file renamed over the old one
    expect(statSync(join(dir, "vault.json")).mode & 0o777).toBe(0o600);
    vault.remove("a");
    expect(readdirSync(dir)).toEqual(["vault.json"]);
  });

  test("a canary secret never appears in vault.json in any encoding", () => {
    const dir = tempDir();
    const secrets = [canary(), canary(), canary()];
    const vault = Vault.open(dir, rawSource());
    secrets.forEach((s, i) => vault.set(`p${i}`, s));
    vault.set("p0", secrets[0]!); // rewritten: a fresh nonce, still nothing readable
    const text = readFileSync(join(dir, "vault.json"), "utf8");
    for (const secret of secrets) expectNoSecret(text, secret);
    expect(vault.get("p2")).toBe(secrets[2]);
  });
});

describe("vault: config references", () => {
  const yaml = `
providers:
  - id: anthropic
    kind: anthropic
    api_key: vault:anthropic
    headers: { x-team: plain-value, x-extra-key: "vault:extra" }
    models: [claude-x]
  - id: openai
    kind: openai
    api_key: sk-literal-in-yaml
    models: [gpt-x]
`;

  test("vaultRefs lists each reference with its key path", () => {
    expect(vaultRefs(config(yaml))).toEqual([
      { path: "providers[0].api_key", name: "anthropic" },
      { path: "providers[0].headers.x-extra-key", name: "extra" },
    ]);
  });

  test("resolveProvider replaces references with decrypted values and leaves other values", () => {
    const cfg = config(yaml);
    const vault = Vault.open(tempDir(), rawSource());
    const key = canary();
    vault.set("anthropic", key);
    vault.set("extra", "sk-extra-value");
    const resolved = resolveProvider(cfg.providers[0]!, vault);
    expect(resolved.api_key).toBe(key);
    expect(resolved.headers).toEqual({ "x-team": "plain-value", "x-extra-key": "sk-extra-value" });
    expect(resolved.models).toEqual(["claude-x"]);
    // The config itself keeps the references.
    expect(cfg.providers[0]!.api_key).toBe("vault:anthropic");
    expect(cfg.providers[0]!.headers["x-extra-key"]).toBe("vault:extra");
    // No reference: the same object, untouched, even with no vault at all.
    expect(resolveProvider(cfg.providers[1]!, undefined)).toBe(cfg.providers[1]);
    expectVaultError(() => resolveProvider(cfg.providers[0]!, undefined), /refers to vault entry "anthropic", but no vault is open/);
    expect(vaultSecrets(cfg, vault).sort()).toEqual([key, "sk-extra-value"].sort());
  });

  test("checkVaultRefs: ok when all resolve; else one line naming the key path and the entry", () => {
    const cfg = config(yaml);
    const dir = tempDir();
    const source = rawSource();
    const vault = Vault.open(dir, source);
    vault.set("anthropic", "sk-a");
    expect(checkVaultRefs(cfg, vault)).toMatch(/^providers\[0\]\.headers\.x-extra-key: vault entry "extra" does not exist in .*vault\.json \(add it with: sluice vault set extra\)$/);
    vault.set("extra", "sk-e");
    expect(checkVaultRefs(cfg, vault)).toBeUndefined();
    expect(checkVaultRefs(config("providers: []"), undefined)).toBeUndefined();
    expect(checkVaultRefs(cfg, undefined)).toMatch(/^providers\[0\]\.api_key: refers to vault entry "anthropic", but no vault key is set/);
    expect(checkVaultRefs(cfg, Vault.open(dir))).toMatch(/no vault key is set/);
    expect(checkVaultRefs(cfg, Vault.open(dir, rawSource()))).toBe("providers[0].api_key: vault: wrong passphrase or key (the vault check did not decrypt)");
    expect(checkVaultRefs(config("providers:\n  - { id: x, kind: openai, api_key: 'vault:bad/name' }"), vault)).toMatch(/^providers\[0\]\.api_key: "bad\/name" is not a valid vault entry name/);
    // An altered entry is caught at start-up, not at the first request.
    const file = readVault(dir);
    file.entries.extra!.data = flipBit(file.entries.extra!.data);
    writeVault(dir, file);
    expect(checkVaultRefs(cfg, Vault.open(dir, source))).toBe("providers[0].headers.x-extra-key: vault: entry extra failed authentication (the file was altered)");
  });
});

describe("sluice vault (the real CLI)", () => {
  test("set via stdin, list, rm; no secret in any output", async () => {
    const dir = tempDir();
    const data = join(dir, "data");
    const env = { SLUICE_VAULT_KEY: newKey() };
    const secret = canary();
    const outputs: string[] = [];
    const run = async (args: string[], stdin?: string) => {
      const result = await sluice(args, { env, cwd: dir, ...(stdin !== undefined ? { stdin } : {}) });
      outputs.push(result.stdout, result.stderr);
      return result;
    };

    const set = await run(["vault", "set", "anthropic", "--data", data], `${secret}\n`);
    expect(set.stderr).toBe("");
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(/stored vault entry "anthropic" .*vault:anthropic/);
    expect(Vault.open(data, keySourceFromEnv(env)).get("anthropic")).toBe(secret); // trailing newline dropped
    expect((await run(["vault", "set", "--data", data, "openai"], "sk-second")).code).toBe(0);

    const [list, json, keyless] = await Promise.all([
      run(["vault", "list", "--data", data]), run(["vault", "list", "--json", "--data", data]), sluice(["vault", "list", "--data", data], { cwd: dir }),
    ]);
    expect(list.code).toBe(0);
    const lines = list.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^NAME\s+CREATED$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(["anthropic", "openai"]);
    expect(lines.slice(1).every((l) => /^\S+\s+\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(l))).toBe(true);
    expect(JSON.parse(json.stdout)).toEqual([
      { name: "anthropic", created_at: expect.any(String) }, { name: "openai", created_at: expect.any(String) },
    ]);
    // Listing needs no key.
    expect(keyless.code).toBe(0);
    expect(keyless.stdout).toContain("anthropic");

    const rm = await run(["vault", "rm", "openai", "--data", data]);
    expect(rm.code).toBe(0);
    const again = await run(["vault", "rm", "openai", "--data", data]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^sluice vault rm: no entry "openai" in .*vault\.json\n$/);
    expect(Vault.open(data).names()).toEqual(["anthropic"]);

    // A wrong key: one line, exit 2, and the secret still nowhere.
    const wrong = await sluice(["vault", "set", "anthropic", "--data", data], { cwd: dir, env: { SLUICE_VAULT_KEY: newKey() }, stdin: "sk-overwrite" });
    outputs.push(wrong.stdout, wrong.stderr);
    expectOneLine(wrong, /^vault: wrong passphrase or key \(the vault check did not decrypt\)$/);

    expect(statSync(data).mode & 0o777).toBe(0o700);
    expect(statSync(join(data, "vault.json")).mode & 0o777).toBe(0o600);
    for (const text of [...outputs, readFileSync(join(data, "vault.json"), "utf8")]) expectNoSecret(text, secret);
  }, 60_000);

  test("--data defaults to the config's data_dir; --passphrase-stdin reads the passphrase first", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "custom.yaml"), `data_dir: ${join(dir, "from-config")}\nproviders: []\n`);
    const env = { SLUICE_VAULT_KEY: newKey() };
    writeFileSync(join(dir, "sluice.yaml"), `data_dir: ./from-cwd-config\n`);
    const bare = tempDir();
    const passphrase = `pass-canary-${randomUUID()}`;
    const [set, cwdConfig, defaults, withPass] = await Promise.all([
      // --config names the data_dir (./sluice.yaml is then not read)
      sluice(["vault", "set", "k1", "--config", join(dir, "custom.yaml")], { cwd: dir, env, stdin: "sk-k1" }),
      // ./sluice.yaml in the working directory is used when present
      sluice(["vault", "set", "k2"], { cwd: dir, env, stdin: "sk-k2" }),
      // neither: ./.sluice
      sluice(["vault", "set", "k3"], { cwd: bare, env, stdin: "sk-k3" }),
      sluice(["vault", "set", "p", "--passphrase-stdin", "--data", join(dir, "p")], { cwd: dir, stdin: `${passphrase}\nsk-via-passphrase\n` }),
    ]);
    for (const r of [set, cwdConfig, defaults]) expect(r.code).toBe(0);
    expect(Vault.open(join(dir, "from-config")).names()).toEqual(["k1"]);
    expect(Vault.open(join(dir, "from-cwd-config")).names()).toEqual(["k2"]);
    expect(Vault.open(join(bare, ".sluice")).names()).toEqual(["k3"]);

    expect(withPass.code).toBe(0);
    expect(withPass.stdout).toContain("key derived with argon2id");
    expect(Vault.open(join(dir, "p"), { kind: "passphrase", passphrase, from: "test" }).get("p")).toBe("sk-via-passphrase");
    for (const text of [withPass.stdout, withPass.stderr, readFileSync(join(dir, "p", "vault.json"), "utf8")]) expectNoSecret(text, passphrase);
  }, 60_000);

  test("--help for vault and each subcommand", async () => {
    const help = await sluice(["vault", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("sluice vault set NAME");
    expect((await inProcess(["--help"])).stdout).toMatch(/\n\s+vault\s/);
    for (const sub of ["set", "list", "rm"]) {
      const r = await inProcess(["vault", sub, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: sluice vault ${sub}`);
      expect(r.stdout).toContain("--data DIR");
    }
  }, 60_000);

  test("bad usage, a bad key or config, a corrupt vault: one line, exit 2", async () => {
    const dir = tempDir();
    const env = { SLUICE_VAULT_KEY: newKey() };
    const d = join(dir, "d");
    writeFileSync(join(dir, "bad.yaml"), "data_dir: [1, 2]\n");
    mkdirSync(join(dir, "corrupt"));
    writeFileSync(join(dir, "corrupt", "vault.json"), "[]");
    // Real processes where stdin or the environment matters ...
    const spawned: Array<[string[], { env?: Record<string, string>; stdin?: string }, RegExp]> = [
      [["vault", "set", "a", "--bogus"], { env }, /^sluice vault set: unknown flag --bogus/],
      [["vault", "set", "a", "--data", d], { env, stdin: "" }, /^sluice vault set: no value on stdin/],
      [["vault", "set", "a", "--data", d], { env, stdin: "sk-two\nlines" }, /^sluice vault set: the value must be one line/],
      [["vault", "set", "a/b", "--data", d], { env, stdin: "sk-x" }, /^vault: invalid entry name "a\/b"/],
      [["vault", "set", "a", "--data", d], { env: {}, stdin: "sk-x" }, /^sluice vault set: no vault key: set SLUICE_VAULT_KEY/],
      [["vault", "set", "a", "--data", d], { env: { SLUICE_VAULT_KEY: "short" }, stdin: "sk-x" }, /^vault: SLUICE_VAULT_KEY must hold the base64 of 32 random bytes/],
    ];
    // ... and the same main() in this process for the rest (a process start costs ~1 s here).
    const local: Array<[string[], RegExp]> = [
      [["vault", "list", "--data"], /^sluice vault list: flag --data .*needs a value|^sluice vault list: .*--data/],
      [["vault"], /^sluice vault: missing subcommand/],
      [["vault", "frob"], /^sluice vault: unknown subcommand "frob"/],
      [["vault", "set"], /^sluice vault set: missing NAME/],
      // The value is never taken from argv.
      [["vault", "set", "a", "sk-on-the-command-line"], /^sluice vault set: unexpected argument "sk-on-the-command-line" \(give one NAME; the value is read from stdin\)$/],
      [["vault", "rm", "--data", d], /^sluice vault rm: missing NAME/],
      [["vault", "list", "extra", "--data", d], /^sluice vault list: unexpected argument "extra"/],
      [["vault", "list", "--config", join(dir, "bad.yaml")], /bad\.yaml:1: data_dir: expected a string/],
      [["vault", "list", "--config", join(dir, "missing.yaml")], /^cannot read config .*missing\.yaml: no such file$/],
      [["vault", "list", "--data", join(dir, "corrupt")], /^vault: .*vault\.json is not a valid vault file \(not a JSON object\)$/],
      [["vault", "rm", "x", "--data", join(dir, "corrupt")], /^vault: .*vault\.json is not a valid vault file/],
    ];
    const results = await Promise.all(spawned.map(([args, options]) => sluice(args, { cwd: dir, ...options })));
    results.forEach((result, i) => expectOneLine(result, spawned[i]![2]));
    for (const [args, pattern] of local) expectOneLine(await inProcess(args), pattern);
    expect(existsSync(join(d, "vault.json"))).toBe(false);
  }, 60_000);
});
