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

/** An IPv6 address as its eight 16-bit groups (a trailing dotted IPv4 part read as two), or undefined. */
function groups(ip: string): number[] | undefined {
  let text = ip.toLowerCase().replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const dotted = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    if ([a, b, c, d].some((n) => n > 255)) return undefined;
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const part = (half: string | undefined) => (half ? half.split(":") : []);
  const head = part(halves[0]);
  const tail = part(halves[1]);
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 0) return undefined;
  const all = [...head, ...Array<string>(Math.max(0, missing)).fill("0"), ...tail];
  if (all.some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return undefined;
  return all.map((g) => parseInt(g, 16));
}

function ipv6Blocked(ip: string): boolean {
  const g = groups(ip);
  if (!g) return false;
  const embedded = () => `${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
  const zeros = (from: number, to: number) => g.slice(from, to).every((n) => n === 0);
  // IPv4 inside IPv6 reaches that IPv4 address: mapped (::ffff:a.b.c.d, which URL parsers write
  // as ::ffff:a9fe:a9fe), compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d).
  if (zeros(0, 8)) return true; // ::
  // (Compatible only where the IPv4 part does not start with 0: ::1 is loopback, not 0.0.0.1.)
  if ((zeros(0, 5) && g[5] === 0xffff) || (zeros(0, 6) && g[6] !== 0) || (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6))) {
    return ipv4Blocked(embedded());
  }
  return (g[0]! & 0xffc0) === 0xfe80 // fe80::/10 link-local
    || (g[0] === 0xfd00 && g[1] === 0x0ec2 && zeros(2, 7) && g[7] === 0x254); // AWS metadata over IPv6
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
