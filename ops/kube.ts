/**
 * The node's pod subnets from the Kubernetes API (`spec.podCIDRs`, assigned by
 * the controller manager with --allocate-node-cidrs), so one DaemonSet spec
 * gives every node its own host-local range. In-cluster credentials: the
 * service-account token and CA mounted at the standard path, the API address
 * from KUBERNETES_SERVICE_HOST/PORT. Needs RBAC `get` on `nodes` only.
 *
 * @module
 */

/** Where Kubernetes mounts a pod's service-account credentials. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** How to reach the API server. */
export interface KubeAccess {
  /** Base URL, e.g. `https://10.96.0.1:443`. */
  api: string;
  token: string;
  /** PEM CA bundle for https; null for plain http (tests only). */
  ca: string | null;
}

/** In-cluster access from the environment and the mounted service account. */
export function inClusterAccess(
  env: (k: string) => string | undefined,
  dir = SERVICE_ACCOUNT_DIR,
  api?: string,
): KubeAccess {
  let base = api;
  if (base === undefined) {
    const host = env("KUBERNETES_SERVICE_HOST"), port = env("KUBERNETES_SERVICE_PORT") ?? "443";
    if (!host) throw new Error("KUBERNETES_SERVICE_HOST is not set: not running in a pod? (or pass --kube-api URL)");
    base = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  }
  const read = (f: string): string => {
    try {
      return Deno.readTextFileSync(`${dir}/${f}`).trim();
    } catch (e) {
      throw new Error(`cannot read the service-account ${f} in ${dir}: ${e instanceof Error ? e.message : e}`);
    }
  };
  const https = base.startsWith("https://");
  return { api: base.replace(/\/+$/, ""), token: read("token"), ca: https ? read("ca.crt") : null };
}

/** The pod CIDRs assigned to node `name`, IPv4 first as Kubernetes lists them. */
export async function nodePodCidrs(access: KubeAccess, name: string, timeoutMs = 15000): Promise<string[]> {
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) || name.length > 253) {
    throw new Error(`node name ${JSON.stringify(name)} is not a valid Kubernetes name`);
  }
  const client = access.ca !== null ? Deno.createHttpClient({ caCerts: [access.ca] }) : undefined;
  try {
    const res = await fetch(`${access.api}/api/v1/nodes/${name}`, {
      headers: { authorization: `Bearer ${access.token}`, accept: "application/json" },
      signal: AbortSignal.timeout(timeoutMs),
      ...(client ? { client } : {}),
    });
    const body = await res.text();
    if (!res.ok) {
      const why = res.status === 403 ? " (the service account needs RBAC get on nodes)" : "";
      throw new Error(`GET node ${name}: HTTP ${res.status}${why}: ${body.slice(0, 200)}`);
    }
    const spec = (JSON.parse(body) as { spec?: { podCIDR?: string; podCIDRs?: string[] } }).spec ?? {};
    const cidrs = spec.podCIDRs?.length ? spec.podCIDRs : spec.podCIDR ? [spec.podCIDR] : [];
    if (cidrs.length === 0) {
      throw new Error(`node ${name} has no spec.podCIDRs (is the controller manager run with --allocate-node-cidrs?)`);
    }
    return cidrs;
  } finally {
    client?.close();
  }
}
