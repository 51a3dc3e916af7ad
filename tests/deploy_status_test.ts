/**
 * `podnet status` against real attachments (built by `attach`, the same
 * machinery as CNI ADD) in throwaway namespaces: a node netns holding the
 * host end, a pod netns holding the peer. Status runs inside the node netns.
 * Drift is made by hand with `ip`, the way an operator or a bug would.
 */

import assert from "node:assert/strict";
import { attach as podnetAttach, type AttachResult } from "../cni/attach.ts";
import { withNetns } from "../netlink/mod.ts";
import { collectStatus, type StatusReport } from "../ops/status.ts";
import { calicoPod, runsc } from "../lab/sandbox.ts";
import { ip, ipJson, PODNET, run, runAsync, type World, world } from "./harness.ts";

/** Attaches container `id` in `pod` from `node` with podnet's own attach (network "podnet"). */
function attach(
  w: World,
  node: string,
  pod: string,
  o: { id: string; v4: string; v6?: string; mode?: "static-neighbor" | "proxy-arp"; ifname?: string; network?: string },
): AttachResult {
  return withNetns(w.path(node), () =>
    podnetAttach({
      netns: w.path(pod),
      containerId: o.id,
      ifname: o.ifname ?? "eth0",
      network: o.network ?? "podnet",
      ips: [o.v4, ...(o.v6 ? [o.v6] : [])],
      gatewayMode: o.mode ?? "static-neighbor",
      stateDir: w.tempDir(),
    }));
}

function statusIn(path: string): StatusReport {
  return withNetns(path, () => collectStatus());
}

Deno.test("status lists a dual-stack attachment with matching pins and no drift", async () => {
  await using w = world();
  const node = w.netns("node"), pod = w.netns("pod");
  const at = attach(w, node, pod, { id: "ctr-one", v4: "10.244.1.5", v6: "fd00:244:1::5" });
  const r = statusIn(w.path(node));
  assert.equal(r.attachments.length, 1);
  const a = r.attachments[0]!;
  assert.equal(a.network, "podnet");
  assert.equal(a.containerId, "ctr-one");
  assert.equal(a.ifname, "eth0");
  assert.equal(a.hostInterface, at.hostInterface);
  assert.equal(a.hostMac, at.hostMac);
  assert.deepEqual([...a.podAddresses].sort(), ["10.244.1.5", "fd00:244:1::5"]);
  assert.equal(a.gatewayMode, "static-neighbor");
  assert.equal(a.podNetns, w.path(pod));
  assert.equal(a.state, "ok");
  assert.equal(a.pins, "match");
  assert.deepEqual(a.pinned.map((p) => [p.ip, p.mac, p.permanent]), [
    ["169.254.1.1", at.hostMac, true],
    ["fe80::1", at.hostMac, true],
  ]);
  assert.deepEqual(a.drift, []);
  assert.equal(r.drift, 0);
});

Deno.test("status exits 1 and names the pin when the pod's gateway neighbor no longer matches the host-end MAC", async () => {
  await using w = world();
  const node = w.netns("node"), pod = w.netns("pod");
  const at = attach(w, node, pod, { id: "ctr-two", v4: "10.244.1.6", v6: "fd00:244:1::6" });
  // Someone re-pinned the IPv4 gateway to another MAC (e.g. after the host end was recreated).
  ip(pod, "neigh", "replace", "169.254.1.1", "lladdr", "02:00:00:00:00:99", "dev", "eth0", "nud", "permanent");
  const out = await runAsync("nsenter", [`--net=${w.path(node)}`, PODNET, "status", "--json"]);
  assert.equal(out.code, 1, out.stderr);
  const r = JSON.parse(out.stdout) as StatusReport;
  const a = r.attachments[0]!;
  assert.equal(a.pins, "mismatch");
  assert.equal(a.state, "drift");
  assert.equal(r.drift, 1);
  assert.ok(a.drift.some((d) => d.includes("169.254.1.1") && d.includes("02:00:00:00:00:99")), a.drift.join("; "));
  assert.ok(!a.drift.some((d) => d.includes("fe80::1")), "the IPv6 pin still matches");
  const text = await runAsync("nsenter", [`--net=${w.path(node)}`, PODNET, "status"]);
  assert.equal(text.code, 1);
  assert.match(text.stdout, /1 with drift/);
  assert.match(text.stdout, new RegExp(`${at.hostInterface} .*static-neighbor\\s+mismatch\\s+drift`));
});

Deno.test("status reports a missing pin, a missing host route, a foreign address and a down host end as drift", async () => {
  await using w = world();
  const node = w.netns("node"), pod = w.netns("pod");
  const { hostInterface: host } = attach(w, node, pod, { id: "ctr3", v4: "10.244.1.7", v6: "fd00:244:1::7" });
  ip(node, "-6", "route", "del", "fd00:244:1::7/128", "dev", host);
  let a = statusIn(w.path(node)).attachments[0]!;
  // Without the /128 the pod's IPv6 address is unrouted: an address the attachment does not account for.
  assert.deepEqual(a.podAddresses, ["10.244.1.7"]);
  assert.ok(a.drift.includes("address fd00:244:1::7/128 on eth0 is not this attachment's"), a.drift.join("; "));
  ip(node, "-6", "route", "add", "fd00:244:1::7/128", "dev", host);
  ip(pod, "-6", "neigh", "del", "fe80::1", "dev", "eth0");
  a = statusIn(w.path(node)).attachments[0]!;
  assert.equal(a.pins, "missing");
  assert.deepEqual(a.drift, ["permanent neighbor fe80::1 on eth0 is missing"]);
  // A down host end loses its host routes with it (the kernel flushes them).
  ip(node, "link", "set", host, "down");
  a = statusIn(w.path(node)).attachments[0]!;
  assert.ok(a.drift.includes(`host interface ${host} is down`), a.drift.join("; "));
  assert.ok(a.drift.includes(`no /32 or /128 host route through ${host}`), a.drift.join("; "));
});

Deno.test("status judges sysctls by CHECK's rules: accept_ra, forwarding and proxy_arp on the host end, accept_dad in the pod", async () => {
  await using w = world();
  const node = w.netns("node"), pod = w.netns("pod");
  const { hostInterface: host } = attach(w, node, pod, { id: "ctr9", v4: "10.244.1.13", v6: "fd00:244:1::13" });
  assert.deepEqual(statusIn(w.path(node)).attachments[0]!.drift, []);
  run("ip", ["netns", "exec", node, "sysctl", "-qw", `net.ipv6.conf.${host}.accept_ra=1`]);
  run("ip", ["netns", "exec", node, "sysctl", "-qw", `net.ipv4.conf.${host}.forwarding=0`]);
  run("ip", ["netns", "exec", pod, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=1"]);
  const a = statusIn(w.path(node)).attachments[0]!;
  assert.ok(a.drift.includes(`sysctl net.ipv6.conf.${host}.accept_ra is 1, want 0`), a.drift.join("; "));
  assert.ok(a.drift.includes(`sysctl net.ipv4.conf.${host}.forwarding is 0, want 1`), a.drift.join("; "));
  assert.ok(a.drift.includes("sysctl net.ipv6.conf.eth0.accept_dad is 1 in the pod, want 0"), a.drift.join("; "));
});

Deno.test("status reports proxy-arp mode from the host end's proxy_arp and does not expect pins", async () => {
  await using w = world();
  const node = w.netns("node"), pod = w.netns("pod");
  attach(w, node, pod, { id: "ctr4", v4: "10.244.1.8", v6: "fd00:244:1::8", mode: "proxy-arp" });
  const a = statusIn(w.path(node)).attachments[0]!;
  assert.equal(a.gatewayMode, "proxy-arp");
  assert.equal(a.pins, "n/a");
  assert.deepEqual(a.drift, []);
});

Deno.test("status calls a pod end taken by a gVisor sandbox sandboxed, exit 0, and still reports real drift", async () => {
  await using w = world();
  const pw = calicoPod(w); // a node with an address the sandbox could reach; its own pod is not used
  const pod = w.netns("gvisor");
  const { hostInterface: host } = attach(w, pw.node, pod, { id: "gv1", v4: "10.244.1.20", v6: "fd00:244:1::20" });
  // runsc (--network=sandbox) takes eth0's addresses and routes into its own stack and reads the link
  // through a packet socket, while the sandbox runs.
  const sandbox = runsc(w, {
    runtimeNetns: pw.nodePath,
    containerNetns: w.path(pod),
    args: ["/bin/busybox", "sleep", "6"],
  });
  let taken = false;
  for (let i = 0; i < 100 && !taken; i++) {
    await new Promise((r) => setTimeout(r, 50));
    taken = (ipJson(pod, "-4", "addr", "show", "dev", "eth0")[0]?.addr_info ?? []).length === 0;
  }
  assert.ok(taken, "runsc took eth0's addresses");
  const out = await runAsync("nsenter", [`--net=${pw.nodePath}`, PODNET, "status", "--json"]);
  const r = JSON.parse(out.stdout) as StatusReport;
  const a = r.attachments.find((x) => x.containerId === "gv1")!;
  assert.equal(a.state, "sandboxed", a.drift.join("; "));
  assert.equal(a.pins, "sandboxed");
  assert.equal(out.code, 0, out.stdout);
  // Real drift on a sandboxed attachment is still drift: the host end no longer forwarding.
  run("ip", ["netns", "exec", pw.node, "sysctl", "-qw", `net.ipv4.conf.${host}.forwarding=0`]);
  const b = withNetns(pw.nodePath, () => collectStatus()).attachments.find((x) => x.containerId === "gv1")!;
  assert.equal(b.state, "drift");
  assert.deepEqual(b.drift, [`sysctl net.ipv4.conf.${host}.forwarding is 0, want 1`]);
  await sandbox;
});

Deno.test("status says the pod side is unknown when the pod netns cannot be reached, without calling it drift", async () => {
  await using w = world();
  const node = w.netns("node"), pod = w.netns("pod");
  attach(w, node, pod, { id: "ctr5", ifname: "net1", network: "other-net", v4: "10.244.1.9", v6: "fd00:244:1::9" });
  // Keep the pod netns alive only through a bind mount status does not search.
  const hold = `${w.tempDir()}/podns`;
  Deno.writeTextFileSync(hold, "");
  run("mount", ["--bind", w.path(pod), hold]);
  w.defer(() => void run("umount", [hold]));
  ip(null, "netns", "del", pod);
  const r = statusIn(w.path(node));
  const a = r.attachments[0]!;
  assert.equal(a.network, "other-net");
  assert.equal(a.ifname, "net1");
  assert.equal(a.podNetns, null);
  assert.equal(a.pins, "unknown");
  assert.ok(a.warnings.some((x) => x.includes("pod side unknown")), a.warnings.join("; "));
  assert.deepEqual(a.drift, []);
  // The netns the world created is gone already; recreate the name so the world's clean-up succeeds.
  ip(null, "netns", "add", pod);
});

Deno.test("status flags a veth named like a podnet host end that has no podnet alias", async () => {
  await using w = world();
  const node = w.netns("node"), pod = w.netns("pod");
  ip(node, "link", "add", "pn5a5a", "type", "veth", "peer", "name", "eth0", "netns", pod);
  ip(node, "link", "add", "veth-other", "type", "veth", "peer", "name", "eth1", "netns", pod);
  const r = statusIn(w.path(node));
  assert.deepEqual(r.unlabelled, ["pn5a5a"]);
  assert.equal(r.attachments.length, 0);
  assert.equal(r.drift, 1);
  assert.deepEqual(ipJson(node, "link", "show", "pn5a5a").length, 1, "status changed nothing");
});

Deno.test("status --watch reports every round with its drift lines and exits with the last round's status", async () => {
  await using w = world();
  const node = w.netns("node"), pod = w.netns("pod");
  attach(w, node, pod, { id: "ctr7", v4: "10.244.1.11", v6: "fd00:244:1::11" });
  ip(pod, "neigh", "del", "169.254.1.1", "dev", "eth0");
  const out = await runAsync("nsenter", [`--net=${w.path(node)}`, PODNET, "status", "--watch", "0", "--rounds", "2"]);
  assert.equal(out.code, 1, out.stderr);
  const lines = out.stdout.trim().split("\n");
  assert.equal(
    lines.filter((l) => /^\d{4}-\d\d-\d\dT.* podnet status: 1 attachment\(s\), 1 with drift$/.test(l)).length,
    2,
  );
  assert.equal(
    lines.filter((l) => l === "drift   ctr7/eth0: permanent neighbor 169.254.1.1 on eth0 is missing").length,
    2,
  );
});

Deno.test("status finds a pod netns that only a process holds, through /proc/PID/ns/net", async () => {
  await using w = world();
  const node = w.netns("node");
  // A netns with no name under /run/netns, kept alive by one process we started.
  const child = new Deno.Command("unshare", { args: ["--net", "sleep", "60"], stdout: "null", stderr: "null" }).spawn();
  w.defer(async () => {
    child.kill("SIGKILL");
    await child.status;
  });
  const pidNs = `/proc/${child.pid}/ns/net`;
  for (let i = 0; i < 50 && Deno.readLinkSync(pidNs) === Deno.readLinkSync("/proc/self/ns/net"); i++) {
    await new Promise((ok) => setTimeout(ok, 20)); // until unshare(2) has happened
  }
  withNetns(
    w.path(node),
    () =>
      podnetAttach({
        netns: pidNs,
        containerId: "ctr8",
        network: "podnet",
        ips: ["10.244.1.12"],
        stateDir: w.tempDir(),
      }),
  );
  const a = statusIn(w.path(node)).attachments[0]!;
  assert.equal(a.podNetns, pidNs);
  assert.equal(a.pins, "match");
  assert.deepEqual(a.podAddresses, ["10.244.1.12"]);
});
