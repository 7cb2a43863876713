import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { AppError } from "../errors.js";
import { BRIDGE_DIR } from "../workers/bridgePaths.js";

/** The blocked ranges, one file the worker reads too (bridge-py/dspy_bridge/egress.json). */
interface EgressData {
  blocked: string[];
  blockedHostSuffixes: string[];
}

const DATA: EgressData = JSON.parse(fs.readFileSync(path.join(BRIDGE_DIR, "dspy_bridge", "egress.json"), "utf8")) as EgressData;

function blockList(cidrs: readonly string[]): net.BlockList {
  const list = new net.BlockList();
  for (const cidr of cidrs) {
    const [address, bits] = cidr.split("/");
    const family = net.isIPv6(address) ? "ipv6" : "ipv4";
    const prefix = bits === undefined ? (family === "ipv6" ? 128 : 32) : Number(bits);
    list.addSubnet(address, prefix, family);
    // IPv4-mapped IPv6 (::ffff:a.b.c.d) is the same host as a.b.c.d.
    if (family === "ipv4") list.addSubnet(`::ffff:${address}`, 96 + prefix, "ipv6");
  }
  return list;
}

const BLOCKED = blockList(DATA.blocked);

/**
 * Where a language model's `apiBase` may point (LM_EGRESS_ALLOW). Loopback, private, link-local
 * (cloud metadata) and reserved addresses are refused unless the operator allows them: an editor
 * must not make the server reach its own network. The server checks the string when a model is
 * written (an address literal, or a `localhost` name); the worker checks every address a name
 * resolves to, at the moment it connects (bridge-py egress.py), with the allow list this sends it.
 */
export class EgressPolicy {
  private constructor(
    /** As given, for the worker (`configure_lm.config.egress_allow`). */
    readonly allow: readonly string[],
    private readonly allowedNets: net.BlockList,
    private readonly allowedHosts: ReadonlySet<string>,
  ) {}

  /** `raw`: comma-separated CIDRs, addresses and host names; empty or `none`: nothing beyond public addresses. */
  static parse(raw: string | undefined): EgressPolicy {
    const entries = !raw || raw.trim() === "none" ? [] : raw.split(",").map((e) => e.trim().toLowerCase()).filter(Boolean);
    const cidrs: string[] = [];
    const hosts = new Set<string>();
    for (const entry of entries) {
      const [address, bits] = entry.split("/");
      if (net.isIP(address)) {
        const max = net.isIPv6(address) ? 128 : 32;
        if (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max)) throw badEntry(entry);
        cidrs.push(entry);
      } else if (bits === undefined && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(entry)) {
        hosts.add(entry);
      } else {
        throw badEntry(entry);
      }
    }
    return new EgressPolicy(entries, blockList(cidrs), hosts);
  }

  /** Why `apiBase` is refused as written, or null (a DNS name is checked where it resolves: in the worker). */
  refusal(apiBase: string): string | null {
    const host = hostOf(apiBase);
    if (host === null || this.allowedHosts.has(host)) return null;
    if (DATA.blockedHostSuffixes.some((suffix) => host === suffix || host.endsWith(`.${suffix}`))) {
      return `'${host}' is this machine; an LM endpoint may not point there unless the operator allows it (LM_EGRESS_ALLOW)`;
    }
    const family = net.isIPv6(host) ? "ipv6" : net.isIPv4(host) ? "ipv4" : null;
    if (family && BLOCKED.check(host, family) && !this.allowedNets.check(host, family)) {
      return `${host} is a loopback, private, link-local or reserved address; an LM endpoint may not point there unless the operator allows it (LM_EGRESS_ALLOW)`;
    }
    return null;
  }

  /** Why connecting to `address` (which `host` resolved to) is refused, or null (bridge-py egress.py `refusal`). */
  connectRefusal(host: string, address: string): string | null {
    const name = host.toLowerCase().replace(/\.$/, "");
    if (this.allowedHosts.has(name)) return null;
    let ip = address.split("%")[0]!;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
    if (mapped) ip = mapped[1]!;
    const family = net.isIPv6(ip) ? "ipv6" : "ipv4";
    if (this.allowedNets.check(ip, family)) return null;
    if (BLOCKED.check(ip, family)) {
      return `${host} resolves to ${ip}, a loopback, private, link-local or reserved address; LM requests may not go there unless the operator allows it (LM_EGRESS_ALLOW)`;
    }
    if (DATA.blockedHostSuffixes.some((suffix) => name === suffix || name.endsWith(`.${suffix}`))) {
      return `${host} is this machine; LM requests may not go there unless the operator allows it (LM_EGRESS_ALLOW)`;
    }
    return null;
  }
}

/** The URL's host as the WHATWG parser normalizes it (2852039166 → 169.254.169.254), without brackets or a final dot. */
function hostOf(apiBase: string): string | null {
  try {
    return new URL(apiBase).hostname.replace(/^\[|\]$/g, "").replace(/\.$/, "").toLowerCase();
  } catch {
    return null;
  }
}

function badEntry(entry: string): AppError {
  return new AppError("BAD_CONFIG", `LM_EGRESS_ALLOW: '${entry}' is not an address, a CIDR range or a host name`);
}
