/**
 * gVisor end to end: a runsc sandbox copies a netns's addresses, routes and
 * only PERMANENT neighbors when it starts (and strips the addresses and routes
 * from the netns it scraped). With proxy ARP off and nobody answering ARP for
 * 169.254.1.1, the sandbox reaches its gateway only through a pinned neighbor.
 */

import assert from "node:assert/strict";
import { ip, ipJson, run, world } from "./harness.ts";
import {
  calicoPod,
  containerId,
  kernelState,
  NODE_IP,
  PING_NODE,
  POD_IP,
  PODNET,
  podnet,
  runsc,
} from "../lab/sandbox.ts";

run("runsc", ["--version"]); // fails the file at once, with a clear message, when runsc is missing

Deno.test("runsc: without the pin the sandbox cannot reach the node; after podnet restore pinned the gateway it can", async () => {
  await using w = world();
  const pw = calicoPod(w);
  // The gateway MAC was only learned dynamically: a REACHABLE entry, which runsc does not copy.
  ip(pw.pod, "neigh", "replace", "169.254.1.1", "lladdr", pw.host.mac, "dev", "eth0", "nud", "reachable");
  const snap = `${w.tempDir()}/pod.json`;
  const cap = await podnet(["capture", "--netns", pw.podPath, "--ifname", "eth0", "--out", snap]);
  assert.equal(cap.code, 0, cap.stderr);
  assert.equal(Deno.statSync(snap).mode! & 0o777, 0o600);
  assert.deepEqual(JSON.parse(Deno.readTextFileSync(snap)).links[0].neighbors, [{
    ip: "169.254.1.1",
    mac: pw.host.mac,
  }]);

  const control = await runsc(w, { runtimeNetns: pw.podPath, containerNetns: pw.podPath, args: PING_NODE });
  assert.notEqual(control.code, 0, `the control ping must fail without the pin:\n${control.stdout}`);
  assert.match(control.stdout, /0 packets received/);

  // runsc stripped the pod's addresses and routes; restore puts them back and pins the gateway.
  for (let i = 0; i < 2; i++) {
    const r = await podnet(["restore", "--from", snap, "--netns", pw.podPath]);
    assert.equal(r.code, 0, r.stderr);
  }
  const neigh = ipJson(pw.pod, "neigh", "show", "dev", "eth0");
  assert.deepEqual(neigh.map((n) => [n.dst, n.lladdr, n.state]), [["169.254.1.1", pw.host.mac, ["PERMANENT"]]]);
  assert.deepEqual(ipJson(pw.pod, "-4", "route", "show").map((r) => [r.dst, r.gateway ?? null]), [
    ["default", "169.254.1.1"],
    ["169.254.1.1", null],
  ]);

  const pinned = await runsc(w, { runtimeNetns: pw.podPath, containerNetns: pw.podPath, args: PING_NODE });
  assert.equal(pinned.code, 0, `${pinned.stdout}\n${pinned.stderr}`);
  assert.match(pinned.stdout, new RegExp(`64 bytes from ${NODE_IP.replaceAll(".", "\\.")}`));
});

Deno.test("runsc: prestart hook with --link-netns moves eth0 into the sandbox with addresses, routes and pin; ping works", async () => {
  await using w = world();
  const id = containerId(w);
  const pw = calicoPod(w, { alias: `podnet-test/${id}/eth0` }); // this container's attachment
  // As podnet's CNI leaves a pod in static-neighbor mode: the gateway pinned, proxy ARP off.
  ip(pw.pod, "neigh", "replace", "169.254.1.1", "lladdr", pw.host.mac, "dev", "eth0", "nud", "permanent");
  const captureDir = `${w.tempDir()}/capture`;
  const r = await runsc(w, {
    id,
    runtimeNetns: pw.nodePath,
    containerNetns: null, // runsc makes a new, empty netns; the hook fills it
    args: ["/bin/busybox", "sh", "-c", `/bin/busybox ip addr; /bin/busybox ip route; ${PING_NODE.join(" ")}`],
    prestart: [{
      path: PODNET,
      args: ["podnet", "hook", "--link-netns", pw.podPath, "--capture-dir", captureDir],
    }],
  });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, new RegExp(`inet ${POD_IP.replaceAll(".", "\\.")}/32`));
  assert.match(r.stdout, /default via 169\.254\.1\.1 dev eth0/);
  assert.match(r.stdout, /1 packets received/);
  // The link left the pod netns; the hook recorded what it applied.
  assert.deepEqual(ipJson(pw.pod, "link", "show").map((l) => l.ifname), ["lo"]);
  const files = [...Deno.readDirSync(captureDir)].map((e) => e.name);
  assert.equal(files.length, 1);
  const saved = JSON.parse(Deno.readTextFileSync(`${captureDir}/${files[0]}`));
  assert.deepEqual(saved.links[0].neighbors, [{ ip: "169.254.1.1", mac: pw.host.mac }]);
});

Deno.test("runsc: restore --link-netns into a separate netns Q; a sandbox in Q reaches the node", async () => {
  await using w = world();
  const pw = calicoPod(w);
  ip(pw.pod, "neigh", "replace", "169.254.1.1", "lladdr", pw.host.mac, "dev", "eth0", "nud", "permanent");
  const q = w.netns("q");
  const snap = `${w.tempDir()}/pod.json`;
  assert.equal((await podnet(["capture", "--netns", pw.podPath, "--out", snap])).code, 0);
  const r1 = await podnet(["restore", "--from", snap, "--netns", w.path(q), "--link-netns", pw.podPath]);
  assert.equal(r1.code, 0, r1.stderr);
  const after = kernelState(q);
  const r2 = await podnet(["restore", "--from", snap, "--netns", w.path(q), "--link-netns", pw.podPath]);
  assert.equal(r2.code, 0, r2.stderr);
  assert.deepEqual(kernelState(q), after, "a second restore changes nothing");
  assert.deepEqual(ipJson(pw.pod, "link", "show").map((l) => l.ifname), ["lo"]);

  const r = await runsc(w, { runtimeNetns: w.path(q), containerNetns: w.path(q), args: PING_NODE });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /1 packets received/);
});

Deno.test("runsc: a refusing hook fails container creation, its one line reaches runsc's error, the link stays", async () => {
  await using w = world();
  const pw = calicoPod(w); // host end without podnet's alias: not podnet's to move
  const r = await runsc(w, {
    runtimeNetns: pw.nodePath,
    containerNetns: null,
    args: PING_NODE,
    prestart: [{ path: PODNET, args: ["podnet", "hook", "--link-netns", pw.podPath] }],
  });
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    /podnet hook: refusing to move eth0 from \/run\/netns\/pnt-\S+: it is not the pod end of a podnet veth/,
  );
  assert.doesNotMatch(r.stdout, /packets received/, "the container never ran");
  assert.deepEqual(ipJson(pw.pod, "link", "show").map((l) => l.ifname), ["lo", "eth0"]);
});
