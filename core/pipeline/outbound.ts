import { gatewayError, type GatewayError } from "../errors.ts";

// Where the gateway may send a request (RELIABILITY §4 rule 1, T26). Provider URLs come only from
// the admin's config, and redirects are never followed; on top of that, no upstream call may go to
// a cloud metadata service or another link-local address, whatever a host name resolves to at
// the moment (DNS rebinding). Loopback and private networks stay allowed: local model servers
// live there.

const METADATA_NAMES = new Set(["metadata.google.internal", "metadata", "metadata.azure.com"]);

function ipv4Blocked(ip: string): boolean {
  const parts = ip.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return false;
  const [a, b] = parts as [number, number, number, number];
  return (a === 169 && b === 254) // link-local, cloud metadata (169.254.169.254)
    || (a === 100 && b === 100 && parts[2] === 100 && parts[3] === 200) // Alibaba Cloud metadata
    || a === 0; // "this network": 0.0.0.0 reaches the local host on some systems
}

function ipv6Blocked(ip: string): boolean {
  const lower = ip.toLowerCase().replace(/^\[|\]$/g, "");
  if (lower.startsWith("::ffff:")) return ipv4Blocked(lower.slice(7));
  return /^fe[89ab][0-9a-f]:/.test(lower) // fe80::/10 link-local
    || lower === "fd00:ec2::254" // AWS metadata over IPv6
    || lower === "::";
}

/** Whether an address (IPv4 or IPv6 literal) is one no upstream call may reach. */
export function blockedAddress(address: string): boolean {
  return address.includes(":") ? ipv6Blocked(address) : ipv4Blocked(address);
}

const CACHE_MS = 30_000;
const resolved = new Map<string, { at: number; blocked: boolean }>();

/**
 * Check an upstream URL before it is called: the error to fail the attempt with, or undefined.
 * Host names are resolved (cached for 30 s) and refused if any address is blocked.
 */
export async function checkOutbound(url: string): Promise<GatewayError | undefined> {
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, "");
  } catch {
    return gatewayError("upstream_error", "the provider's URL is not a valid URL");
  }
  const refuse = () => gatewayError("upstream_error", `refusing to call ${host}: a link-local or cloud metadata address`, { code: "egress_blocked" });
  if (METADATA_NAMES.has(host.toLowerCase())) return refuse();
  if (/^[\d.]+$/.test(host) || host.includes(":")) return blockedAddress(host) ? refuse() : undefined;
  const now = Date.now();
  const cached = resolved.get(host);
  if (cached && now - cached.at < CACHE_MS) return cached.blocked ? refuse() : undefined;
  let blocked = false;
  try {
    const addresses = await Bun.dns.lookup(host, {});
    blocked = addresses.some((a) => blockedAddress(a.address));
  } catch {
    // Not resolvable now: fetch will fail with its own clear error.
    return undefined;
  }
  resolved.set(host, { at: now, blocked });
  if (resolved.size > 1000) resolved.delete(resolved.keys().next().value!);
  return blocked ? refuse() : undefined;
}
