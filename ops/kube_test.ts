import assert from "node:assert/strict";
import { memoryIo } from "../core/io.ts";
import { main } from "../main.ts";
import { CONFLIST_NAME } from "./files.ts";

/** A stand-in API server on loopback answering GET /api/v1/nodes/NAME. */
async function withApi(
  nodes: Record<string, unknown>,
  fn: (api: string, tokenDir: string, seen: string[]) => Promise<void>,
): Promise<void> {
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const url = new URL(req.url);
    seen.push(`${req.method} ${url.pathname} ${req.headers.get("authorization")}`);
    if (req.headers.get("authorization") !== "Bearer sa-token") return new Response("{}", { status: 401 });
    const name = url.pathname.replace(/^\/api\/v1\/nodes\//, "");
    if (name === "forbidden") return new Response('{"reason":"Forbidden"}', { status: 403 });
    const node = nodes[name];
    return node === undefined ? new Response("{}", { status: 404 }) : Response.json(node);
  });
  const dir = Deno.makeTempDirSync({ prefix: "podnet-kube-" });
  try {
    Deno.writeTextFileSync(`${dir}/token`, "sa-token\n");
    await fn(`http://127.0.0.1:${server.addr.port}`, dir, seen);
  } finally {
    await server.shutdown();
    Deno.removeSync(dir, { recursive: true });
  }
}

async function install(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = memoryIo({});
  const code = await main(["install", ...args], io);
  return { code, out: io.out.join(""), err: io.err.join("") };
}

Deno.test("install --subnet-from-node takes the node's spec.podCIDRs with the service-account token", async () => {
  const nodes = { "node-a": { spec: { podCIDR: "10.244.3.0/24", podCIDRs: ["10.244.3.0/24", "fd00:244:3::/64"] } } };
  await withApi(nodes, async (api, tokenDir, seen) => {
    const d = `${tokenDir}/host`;
    const r = await install([
      "--subnet-from-node",
      "node-a",
      "--kube-api",
      api,
      "--kube-token-dir",
      tokenDir,
      "--cni-bin-dir",
      `${d}/bin`,
      "--cni-conf-dir",
      `${d}/net.d`,
      "--no-hook",
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /subnets of node node-a: 10\.244\.3\.0\/24, fd00:244:3::\/64/);
    assert.deepEqual(seen, ["GET /api/v1/nodes/node-a Bearer sa-token"]);
    const conf = JSON.parse(Deno.readTextFileSync(`${d}/net.d/${CONFLIST_NAME}`));
    assert.deepEqual(conf.plugins[0].ipam.ranges, [[{ subnet: "10.244.3.0/24" }], [{ subnet: "fd00:244:3::/64" }]]);
  });
});

Deno.test("install --subnet-from-node fails clearly on RBAC refusal and on a node without podCIDRs", async () => {
  await withApi({ bare: { spec: {} } }, async (api, tokenDir) => {
    const common = ["--kube-api", api, "--kube-token-dir", tokenDir, "--cni-bin-dir", `${tokenDir}/b`, "--dry-run"];
    const denied = await install(["--subnet-from-node", "forbidden", ...common]);
    assert.equal(denied.code, 1);
    assert.match(denied.err, /HTTP 403 \(the service account needs RBAC get on nodes\)/);
    const bare = await install(["--subnet-from-node", "bare", ...common]);
    assert.equal(bare.code, 1);
    assert.match(bare.err, /node bare has no spec\.podCIDRs/);
    const both = await install(["--subnet-from-node", "bare", "--subnet", "10.0.0.0/24", ...common]);
    assert.equal(both.code, 2);
    assert.match(both.err, /not both/);
  });
});
