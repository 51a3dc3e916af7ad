/**
 * deploy/ checked by machine, not by eye: the Kubernetes manifests against
 * the Kubernetes API schemas (kubernetes-models' validators for types and
 * required fields; the official client's model maps for unknown, i.e.
 * misspelt, fields), the hooks.d description and the network list against
 * JSON schemas of their formats (ajv), and the manifests, the Containerfile
 * and podnet's own flags against each other.
 */

import assert from "node:assert/strict";
import { parseAllDocuments } from "npm:yaml@2.9.1";
import { Ajv } from "npm:ajv@8.20.0";
import * as k8s from "npm:@kubernetes/client-node@1.4.0";
import { DaemonSet } from "npm:kubernetes-models@4.5.1/apps/v1/DaemonSet";
import { ServiceAccount } from "npm:kubernetes-models@4.5.1/v1/ServiceAccount";
import { ClusterRole } from "npm:kubernetes-models@4.5.1/rbac.authorization.k8s.io/v1/ClusterRole";
import { ClusterRoleBinding } from "npm:kubernetes-models@4.5.1/rbac.authorization.k8s.io/v1/ClusterRoleBinding";
import { memoryIo } from "../core/io.ts";
import { main } from "../main.ts";
import { buildConflist, buildHook, SANDBOX_ANNOTATION } from "../ops/files.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const DEPLOY = `${ROOT}/deploy`;

// deno-lint-ignore no-explicit-any
type Obj = any;

function loadYaml(file: string): Obj[] {
  const docs = parseAllDocuments(Deno.readTextFileSync(file));
  const out: Obj[] = [];
  for (const d of docs) {
    assert.deepEqual(d.errors.map((e) => e.message), [], `${file}: YAML errors`);
    out.push(d.toJS());
  }
  return out;
}

const MODELS: Record<string, { validator: new (o: Obj) => { validate(): void }; client: string }> = {
  "apps/v1/DaemonSet": { validator: DaemonSet, client: "V1DaemonSet" },
  "v1/ServiceAccount": { validator: ServiceAccount, client: "V1ServiceAccount" },
  "rbac.authorization.k8s.io/v1/ClusterRole": { validator: ClusterRole, client: "V1ClusterRole" },
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": { validator: ClusterRoleBinding, client: "V1ClusterRoleBinding" },
};

/** Fields the Kubernetes API does not define (the API server would drop or reject them). */
function unknownFields(value: Obj, type: string, path: string): string[] {
  if (value === null || value === undefined) return [];
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) return (value as Obj[]).flatMap((v, i) => unknownFields(v, arr[1]!, `${path}[${i}]`));
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) return Object.entries(value).flatMap(([k, v]) => unknownFields(v, map[1]!, `${path}.${k}`));
  const model = (k8s as Obj)[type];
  if (typeof model?.getAttributeTypeMap !== "function") return []; // a scalar, IntOrString, Quantity…
  const attrs: { baseName: string; type: string }[] = model.getAttributeTypeMap();
  const out: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    const a = attrs.find((x) => x.baseName === k);
    if (!a) out.push(`${path}.${k}`);
    else out.push(...unknownFields(v, a.type, `${path}.${k}`));
  }
  return out;
}

function manifests(): Obj[] {
  return [...loadYaml(`${DEPLOY}/kubernetes/rbac.yaml`), ...loadYaml(`${DEPLOY}/kubernetes/daemonset.yaml`)];
}

Deno.test("every Kubernetes manifest in deploy/kubernetes passes the API schema and has no unknown fields", () => {
  const docs = manifests();
  assert.deepEqual(docs.map((d) => d.kind).sort(), [
    "ClusterRole",
    "ClusterRoleBinding",
    "DaemonSet",
    "ServiceAccount",
  ]);
  for (const d of docs) {
    const m = MODELS[`${d.apiVersion}/${d.kind}`];
    assert.ok(m, `no schema for ${d.apiVersion} ${d.kind}`);
    assert.doesNotThrow(() => new m.validator(d).validate(), `${d.kind} ${d.metadata?.name}`);
    assert.deepEqual(unknownFields(d, m.client, d.kind), [], `${d.kind}: fields the API does not know`);
  }
});

Deno.test("the schema checks catch what they are meant to catch", () => {
  const ds = structuredClone(manifests().find((d) => d.kind === "DaemonSet"));
  ds.spec.template.spec.hostNetwrok = true; // a typo the validator alone would let through
  ds.spec.template.spec.initContainers[0].resourcez = {};
  assert.deepEqual(unknownFields(ds, "V1DaemonSet", "DaemonSet").sort(), [
    "DaemonSet.spec.template.spec.hostNetwrok",
    "DaemonSet.spec.template.spec.initContainers[0].resourcez",
  ]);
  ds.spec.template.spec.hostNetwork = "yes";
  assert.throws(() => new DaemonSet(ds).validate(), /hostNetwork must be boolean/);
});

Deno.test("the DaemonSet lands on every node with host networking, the CNI mounts, an install init container and requests", () => {
  const ds = manifests().find((d) => d.kind === "DaemonSet");
  const pod = ds.spec.template.spec;
  assert.equal(pod.hostNetwork, true);
  // One toleration with operator Exists and no key tolerates every taint (control plane, NotReady, …).
  assert.ok(pod.tolerations.some((t: Obj) => t.operator === "Exists" && t.key === undefined && t.effect === undefined));
  assert.deepEqual(ds.spec.selector.matchLabels, ds.spec.template.metadata.labels);
  const volumes = new Map(pod.volumes.map((v: Obj) => [v.name, v.hostPath?.path]));
  const init = pod.initContainers.find((c: Obj) => c.name === "install");
  assert.deepEqual(init.command.slice(0, 2), ["/usr/local/bin/podnet", "install"]);
  const mounts = new Map(init.volumeMounts.map((m: Obj) => [m.mountPath, volumes.get(m.name)]));
  // Same path inside and outside, so what install writes names host paths.
  for (const p of ["/opt/cni/bin", "/etc/cni/net.d", "/etc/containers/oci/hooks.d"]) assert.equal(mounts.get(p), p);
  for (const c of [...pod.initContainers, ...pod.containers]) {
    assert.ok(c.resources?.requests?.cpu && c.resources?.requests?.memory, `${c.name} has cpu and memory requests`);
    for (const m of c.volumeMounts ?? []) assert.ok(volumes.has(m.name), `${c.name} mounts a declared volume`);
  }
  const env = new Map(init.env.map((e: Obj) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
  assert.equal(env.get("NODE_NAME"), "spec.nodeName");
});

Deno.test("RBAC grants exactly get on nodes to the DaemonSet's service account", () => {
  const docs = manifests();
  const ds = docs.find((d) => d.kind === "DaemonSet");
  const sa = docs.find((d) => d.kind === "ServiceAccount");
  const role = docs.find((d) => d.kind === "ClusterRole");
  const binding = docs.find((d) => d.kind === "ClusterRoleBinding");
  assert.equal(ds.spec.template.spec.serviceAccountName, sa.metadata.name);
  assert.equal(ds.metadata.namespace, sa.metadata.namespace);
  assert.deepEqual(role.rules, [{ apiGroups: [""], resources: ["nodes"], verbs: ["get"] }]);
  assert.deepEqual(binding.roleRef, {
    apiGroup: "rbac.authorization.k8s.io",
    kind: "ClusterRole",
    name: role.metadata.name,
  });
  assert.deepEqual(binding.subjects, [{
    kind: "ServiceAccount",
    name: sa.metadata.name,
    namespace: sa.metadata.namespace,
  }]);
});

Deno.test("the DaemonSet's podnet commands are ones podnet accepts, and the init command installs from the node's podCIDRs", async () => {
  const pod = manifests().find((d) => d.kind === "DaemonSet").spec.template.spec;
  const run = async (argv: string[]): Promise<{ code: number; out: string; err: string }> => {
    const io = memoryIo();
    const code = await main(argv, io);
    return { code, out: io.out.join(""), err: io.err.join("") };
  };
  const status = pod.containers.find((c: Obj) => c.name === "status");
  for (const cmd of [status.command, status.readinessProbe.exec.command]) {
    assert.equal(cmd[0], "/usr/local/bin/podnet");
    const r = await run([...cmd.slice(1), "--help"]); // flags are parsed before --help is honoured
    assert.equal(r.code, 0, `${cmd.join(" ")}: ${r.err}`);
  }
  // The init container's exact arguments, against a stand-in API server and with every directory redirected.
  const init = pod.initContainers.find((c: Obj) => c.name === "install");
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) =>
      new URL(req.url).pathname === "/api/v1/nodes/node-1"
        ? Response.json({ spec: { podCIDRs: ["10.244.9.0/24", "fd00:244:9::/64"] } })
        : new Response("{}", { status: 404 }),
  );
  const tmp = Deno.makeTempDirSync({ prefix: "podnet-deploy-" });
  try {
    Deno.writeTextFileSync(`${tmp}/token`, "t");
    const args = init.command.slice(1).map((a: string) => a.replace("$(NODE_NAME)", "node-1"));
    const r = await run([
      ...args,
      ...["--cni-bin-dir", `${tmp}/bin`, "--cni-conf-dir", `${tmp}/net.d`, "--hooks-dir", `${tmp}/hooks.d`],
      ...["--kube-api", `http://127.0.0.1:${server.addr.port}`, "--kube-token-dir", tmp, "--dry-run"],
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /subnets of node node-1: 10\.244\.9\.0\/24, fd00:244:9::\/64/);
    assert.match(r.out, /"subnet": "fd00:244:9::\/64"/);
  } finally {
    await server.shutdown();
    Deno.removeSync(tmp, { recursive: true });
  }
});

Deno.test("the Containerfile builds with scripts/compile.ts, copies every source dir main.ts loads, and puts the binary where the DaemonSet runs it", () => {
  const text = Deno.readTextFileSync(`${DEPLOY}/Containerfile`);
  const lines = text.replace(/\\\n/g, " ").split("\n").filter((l) => l.trim() && !l.trim().startsWith("#"));
  const stages = lines.filter((l) => /^FROM /i.test(l));
  assert.equal(stages.length, 2);
  assert.match(stages[0]!, / AS build$/);
  const build = lines.slice(0, lines.indexOf(stages[1]!));
  const compile = build.find((l) => l.startsWith("RUN") && l.includes("scripts/compile.ts"));
  assert.ok(compile, "the build stage runs scripts/compile.ts");
  const out = /--out (\S+)/.exec(compile!)?.[1];
  assert.ok(out);
  assert.ok(Deno.statSync(`${ROOT}/scripts/compile.ts`).isFile);
  // Every COPY source of the build stage exists in the repository.
  const copied = build.filter((l) => /^COPY /.test(l)).flatMap((l) => l.split(/\s+/).slice(1, -1));
  for (const src of copied) assert.ok(Deno.statSync(`${ROOT}/${src}`), `${src} exists`);
  // Every directory main.ts loads from, directly or through the modules it imports (lazily too), is in the image.
  const dirs = new Set<string>();
  const seen = new Set<string>();
  const walk = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    if (file.includes("/")) dirs.add(file.slice(0, file.indexOf("/")));
    // Code lines only: doc comments show imports too (core/load.ts: `import("./x.ts")`).
    const text = Deno.readTextFileSync(`${ROOT}/${file}`).split("\n").filter((l) => !/^\s*(\*|\/\/)/.test(l))
      .join("\n");
    for (const m of text.matchAll(/(?:from |import\()"(\.\.?\/[^"]+\.ts)"/g)) {
      walk(new URL(m[1]!, `file:///${file}`).pathname.slice(1));
    }
  };
  walk("main.ts");
  assert.ok(dirs.has("netlink") && dirs.has("ffi"), `the walk reaches main.ts's indirect imports: ${[...dirs]}`);
  for (const d of dirs) assert.ok(copied.includes(`${d}/`), `Containerfile copies ${d}/`);
  const final = lines.slice(lines.indexOf(stages[1]!));
  const dest = final.find((l) => l.startsWith("COPY --from=build"))?.split(/\s+/);
  assert.deepEqual(dest?.slice(1), ["--from=build", out, "/usr/local/bin/podnet"]);
  assert.ok(final.some((l) => l.includes("libnl-3-200") && l.includes("libnl-route-3-200")), "runtime has libnl");
});

/** containers/common pkg/hooks 1.0.0, as a JSON schema. */
const HOOK_SCHEMA = {
  type: "object",
  required: ["version", "hook", "when", "stages"],
  additionalProperties: false,
  properties: {
    version: { const: "1.0.0" },
    hook: {
      type: "object",
      required: ["path"],
      additionalProperties: false,
      properties: {
        path: { type: "string", pattern: "^/" },
        args: { type: "array", items: { type: "string" } },
        env: { type: "array", items: { type: "string", pattern: "^[^=]+=" } },
        timeout: { type: "integer", minimum: 1 },
      },
    },
    when: {
      type: "object",
      minProperties: 1,
      additionalProperties: false,
      properties: {
        always: { type: "boolean" },
        annotations: { type: "object", additionalProperties: { type: "string" } },
        commands: { type: "array", items: { type: "string" } },
        hasBindMounts: { type: "boolean" },
      },
    },
    stages: {
      type: "array",
      minItems: 1,
      items: { enum: ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"] },
    },
  },
};

/** CNI spec 1.x network configuration list (the parts runtimes read), with podnet's own plugin shape. */
const CONFLIST_SCHEMA = {
  type: "object",
  required: ["cniVersion", "name", "plugins"],
  properties: {
    cniVersion: { enum: ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] },
    name: { type: "string", pattern: "^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$" },
    disableCheck: { type: "boolean" },
    plugins: {
      type: "array",
      minItems: 1,
      // draft-07 tuple form: the first item is podnet's plugin, the rest any plugin.
      additionalItems: { type: "object", required: ["type"], properties: { type: { type: "string", minLength: 1 } } },
      items: [{
        type: "object",
        required: ["type", "ipam"],
        properties: {
          type: { const: "podnet" },
          gatewayMode: { enum: ["static-neighbor", "proxy-arp"] },
          mtu: { type: "integer", minimum: 68 },
          ipam: {
            type: "object",
            required: ["type", "ranges"],
            properties: {
              type: { const: "host-local" },
              dataDir: { type: "string", pattern: "^/" },
              ranges: {
                type: "array",
                minItems: 1,
                items: {
                  type: "array",
                  minItems: 1,
                  items: { type: "object", required: ["subnet"], properties: { subnet: { type: "string" } } },
                },
              },
            },
          },
        },
      }],
    },
  },
};

Deno.test("deploy/hooks.d/podnet.json is valid hooks 1.0.0, is what install writes by default, and matches only sandboxed containers", () => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const hook = JSON.parse(Deno.readTextFileSync(`${DEPLOY}/hooks.d/podnet.json`));
  const annotations: Record<string, string> = hook.when.annotations; // read before assertions narrow `hook`
  const valid = ajv.validate(HOOK_SCHEMA, hook);
  assert.ok(valid, ajv.errorsText());
  assert.deepEqual(hook, buildHook("/opt/cni/bin/podnet"));
  const bad = { ...hook, stages: ["prestrat"] };
  assert.equal(ajv.validate(HOOK_SCHEMA, bad), false, "the schema rejects an unknown stage");
  // podman/CRI-O match `when.annotations` as regexes over key and value.
  const [[k, v]] = Object.entries(annotations) as [[string, string]];
  const matches = (key: string, value: string): boolean => new RegExp(k).test(key) && new RegExp(v).test(value);
  assert.ok(matches(SANDBOX_ANNOTATION, "gvisor") && matches(SANDBOX_ANNOTATION, "true"));
  assert.ok(!matches(SANDBOX_ANNOTATION, "false") && !matches("podnetXio/sandbox", "true"));
});

Deno.test("the network list install writes is a valid CNI list: podnet first, then portmap and tuning", () => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  for (const subnets of [["10.244.1.0/24"], ["fd00:244:1::/64"], ["10.244.1.0/24", "fd00:244:1::/64"]]) {
    const conf = buildConflist({ name: "podnet", cniVersion: "1.0.0", subnets, gatewayMode: "static-neighbor" });
    const valid = ajv.validate(CONFLIST_SCHEMA, conf);
    assert.ok(valid, ajv.errorsText());
    assert.deepEqual((conf.plugins as Obj[]).map((p) => p.type), ["podnet", "portmap", "tuning"]);
  }
  const wrong = buildConflist({
    name: "podnet",
    cniVersion: "1.0.0",
    subnets: ["10.0.0.0/8"],
    gatewayMode: "proxy-arp",
  });
  (wrong.plugins as Obj[]).reverse();
  assert.equal(
    ajv.validate(CONFLIST_SCHEMA, wrong),
    false,
    "the schema rejects a list that does not start with podnet",
  );
});
