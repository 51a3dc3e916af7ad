import assert from "node:assert/strict";
import { memoryIo } from "../core/io.ts";
import { main } from "../main.ts";
import { BIN_NAME, buildLauncher, CONFLIST_NAME, HOOK_NAME, LAUNCHER_MARKER, MANIFEST_NAME } from "./files.ts";
import { applyInstall, type BinarySource, planInstall, planUninstall } from "./install.ts";

/** Every directory flag pointed into a fresh temp dir (never the machine's real ones). */
function dirs(): { root: string; bin: string; conf: string; hooks: string; args: string[] } {
  const root = Deno.makeTempDirSync({ prefix: "podnet-install-" });
  const bin = `${root}/opt/cni/bin`, conf = `${root}/etc/cni/net.d`, hooks = `${root}/hooks.d`;
  return {
    root,
    bin,
    conf,
    hooks,
    args: ["--cni-bin-dir", bin, "--cni-conf-dir", conf, "--hooks-dir", hooks, "--ipam-data-dir", `${root}/ipam`],
  };
}

async function podnet(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = memoryIo();
  const code = await main(args, io);
  return { code, out: io.out.join(""), err: io.err.join("") };
}

function tree(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of Deno.readDirSync(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) walk(p);
      else out.push(p.slice(root.length));
    }
  };
  walk(root);
  return out.sort();
}

Deno.test("install writes the binary, 10-podnet.conflist and the hook, and a second run changes nothing", async () => {
  const d = dirs();
  try {
    const r = await podnet("install", ...d.args, "--subnet", "10.244.1.0/24", "--subnet", "fd00:244:1::/64");
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /launcher script that sources .*bin\/launch\.sh/);
    assert.deepEqual(tree(d.root), [
      `/etc/cni/net.d/${CONFLIST_NAME}`,
      `/hooks.d/${HOOK_NAME}`,
      `/opt/cni/bin/${MANIFEST_NAME}`,
      `/opt/cni/bin/${BIN_NAME}`,
    ]);
    assert.equal(Deno.statSync(`${d.bin}/podnet`).mode! & 0o777, 0o755);
    assert.equal(Deno.statSync(`${d.conf}/${CONFLIST_NAME}`).mode! & 0o777, 0o644);
    const conf = JSON.parse(Deno.readTextFileSync(`${d.conf}/${CONFLIST_NAME}`));
    assert.deepEqual(conf.plugins.map((p: { type: string }) => p.type), ["podnet", "portmap", "tuning"]);
    assert.deepEqual(conf.plugins[0].ipam, {
      type: "host-local",
      ranges: [[{ subnet: "10.244.1.0/24" }], [{ subnet: "fd00:244:1::/64" }]],
      dataDir: `${d.root}/ipam`,
    });
    const hook = JSON.parse(Deno.readTextFileSync(`${d.hooks}/${HOOK_NAME}`));
    assert.deepEqual(hook.hook, { path: `${d.bin}/podnet`, args: ["podnet", "hook"] });
    const manifest = JSON.parse(Deno.readTextFileSync(`${d.bin}/${MANIFEST_NAME}`));
    assert.deepEqual(manifest.files.map((f: { role: string }) => f.role), ["binary", "hook", "conflist"]);

    const mtimes = tree(d.root).map((p) => Deno.statSync(d.root + p).mtime?.getTime());
    const again = await podnet("install", ...d.args, "--subnet", "10.244.1.0/24", "--subnet", "fd00:244:1::/64");
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /nothing to change/);
    assert.equal((again.out.match(/^ {2}unchanged/gm) ?? []).length, 3);
    assert.deepEqual(tree(d.root).map((p) => Deno.statSync(d.root + p).mtime?.getTime()), mtimes);
  } finally {
    Deno.removeSync(d.root, { recursive: true });
  }
});

Deno.test("install --dry-run prints the plan with the file contents and writes nothing", async () => {
  const d = dirs();
  try {
    const r = await podnet("install", ...d.args, "--subnet", "10.244.1.0/24", "--dry-run");
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /dry run: nothing written/);
    assert.match(r.out, /create {4}binary {3}.*\/opt\/cni\/bin\/podnet/);
    assert.match(r.out, /"type": "podnet"/);
    assert.match(r.out, new RegExp(LAUNCHER_MARKER.replace(/[`]/g, ".")));
    assert.deepEqual(tree(d.root), []);
  } finally {
    Deno.removeSync(d.root, { recursive: true });
  }
});

Deno.test("install replaces the binary by rename: a plugin already running keeps its old file intact", async () => {
  const d = dirs();
  try {
    const v1: BinarySource = { kind: "dist", path: "/v1", data: new TextEncoder().encode("#!/bin/sh\necho v1\n") };
    const v2: BinarySource = { kind: "dist", path: "/v2", data: new TextEncoder().encode("#!/bin/sh\necho v2\n") };
    const base = { cniBinDir: d.bin, cniConfDir: d.conf, hooksDir: null, subnets: ["10.244.1.0/24"], name: "podnet" };
    const opts = { ...base, cniVersion: "1.0.0", gatewayMode: "static-neighbor" as const };
    applyInstall(await planInstall({ ...opts, source: v1 }));
    using running = Deno.openSync(`${d.bin}/podnet`); // stands for an executing ADD holding the inode
    const plan = await planInstall({ ...opts, source: v2 });
    assert.equal(plan.files[0]!.action, "replace");
    applyInstall(plan);
    assert.equal(Deno.readTextFileSync(`${d.bin}/podnet`), "#!/bin/sh\necho v2\n");
    const buf = new Uint8Array(64);
    const n = running.readSync(buf) ?? 0;
    assert.equal(new TextDecoder().decode(buf.subarray(0, n)), "#!/bin/sh\necho v1\n");
    assert.deepEqual(tree(d.bin).filter((p) => p.endsWith(".tmp")), [], "no temp file left behind");
  } finally {
    Deno.removeSync(d.root, { recursive: true });
  }
});

Deno.test("the installed launcher runs podnet from a bare environment, a command and a CNI call", async () => {
  const d = dirs();
  try {
    assert.equal((await podnet("install", ...d.args, "--subnet", "10.244.1.0/24")).code, 0);
    const out = await new Deno.Command(`${d.bin}/podnet`, { args: ["--version"], clearEnv: true, cwd: "/" }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.match(new TextDecoder().decode(out.stdout), /^podnet \d+\.\d+\.\d+ \(deno /);
    for (const command of ["VERSION", "DEL"]) {
      const p = new Deno.Command(`${d.bin}/podnet`, {
        env: { CNI_COMMAND: command, CNI_PATH: "/usr/lib/cni" },
        clearEnv: true,
        cwd: "/",
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const w = p.stdin.getWriter();
      await w.write(new TextEncoder().encode('{"cniVersion":"1.0.0"}'));
      await w.close();
      const o = JSON.parse(new TextDecoder().decode((await p.output()).stdout));
      if (command === "VERSION") assert.equal(o.cniVersion, "1.0.0");
      else assert.equal(o.msg, "CNI_CONTAINERID is required");
    }
  } finally {
    Deno.removeSync(d.root, { recursive: true });
  }
});

Deno.test("a launcher whose checkout is gone says so and exits 1", async () => {
  const d = Deno.makeTempDirSync({ prefix: "podnet-test-launcher-" });
  try {
    Deno.writeTextFileSync(`${d}/podnet`, buildLauncher(`${d}/gone`), { mode: 0o755 });
    const out = await new Deno.Command(`${d}/podnet`, { args: ["--version"], clearEnv: true, cwd: "/" }).output();
    assert.equal(out.code, 1);
    assert.match(new TextDecoder().decode(out.stderr), /no podnet checkout at .*\/gone \(bin\/launch\.sh is missing\)/);
  } finally {
    Deno.removeSync(d, { recursive: true });
  }
});

Deno.test("uninstall removes exactly what install wrote and keeps a file changed since", async () => {
  const d = dirs();
  try {
    assert.equal((await podnet("install", ...d.args, "--subnet", "10.244.1.0/24")).code, 0);
    Deno.writeTextFileSync(`${d.conf}/99-other.conflist`, "{}\n"); // not ours
    Deno.writeTextFileSync(`${d.hooks}/${HOOK_NAME}`, '{"edited": true}\n'); // changed by an operator
    const dry = await podnet("uninstall", ...d.args.slice(0, 6), "--dry-run");
    assert.equal(dry.code, 0, dry.err);
    assert.equal(tree(d.root).length, 5, "dry run removed nothing");
    const r = await podnet("uninstall", ...d.args.slice(0, 6));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /keep {4}hook .*changed since install/);
    assert.deepEqual(tree(d.root), [
      "/etc/cni/net.d/99-other.conflist",
      `/hooks.d/${HOOK_NAME}`,
      `/opt/cni/bin/${MANIFEST_NAME}`,
    ]);
    // The record stays while a recorded file stays; once that file is back as installed, it all goes.
    assert.equal((await podnet("install", ...d.args, "--subnet", "10.244.1.0/24")).code, 0);
    assert.equal((await podnet("uninstall", ...d.args.slice(0, 6))).code, 0);
    assert.deepEqual(tree(d.root), ["/etc/cni/net.d/99-other.conflist"]);
    const twice = await podnet("uninstall", ...d.args.slice(0, 6));
    assert.equal(twice.code, 0, twice.err);
  } finally {
    Deno.removeSync(d.root, { recursive: true });
  }
});

Deno.test("uninstall without the install record removes only files recognisably podnet's", async () => {
  const d = dirs();
  try {
    Deno.mkdirSync(d.bin, { recursive: true });
    Deno.mkdirSync(d.conf, { recursive: true });
    Deno.writeTextFileSync(`${d.bin}/podnet`, buildLauncher("/somewhere"));
    Deno.writeTextFileSync(`${d.conf}/${CONFLIST_NAME}`, JSON.stringify({ name: "x", plugins: [{ type: "bridge" }] }));
    const steps = await planUninstall({ cniBinDir: d.bin, cniConfDir: d.conf, hooksDir: d.hooks });
    assert.deepEqual(steps.map((s) => [s.role, s.action]), [["conflist", "keep"], ["hook", "absent"], [
      "binary",
      "remove",
    ]]);
  } finally {
    Deno.removeSync(d.root, { recursive: true });
  }
});

Deno.test("install usage errors exit 2 and name the flag", async () => {
  const cases: [string[], RegExp][] = [
    [[], /--subnet CIDR is required/],
    [["--subnet", "10.244.1.5/24"], /host bits set \(the network is 10\.244\.1\.0\/24\)/],
    [["--subnet", "banana"], /--subnet "banana" is not a CIDR/],
    [["--subnet", "10.244.1.0/24", "--cni-bin-dir", "rel/dir"], /--cni-bin-dir wants an absolute path/],
    [["--subnet", "10.244.1.0/24", "--gateway-mode", "magic"], /--gateway-mode/],
    [["--subnet", "10.244.1.0/24", "--cni-version", "2.0.0"], /--cni-version/],
    [["--bogus"], /bogus/],
    [["--subnet", "10.244.1.0/24", "--runtime", "docker"], /--runtime knows only containerd/],
    [["--subnet", "10.244.1.0/24", "--runtime", "containerd", "--hooks-dir", "/h"], /containerd does not read/],
    [["--subnet", "10.244.1.0/24", "--containerd-config", "/c.toml"], /goes with --runtime containerd/],
    // The plugin's own MTU range: below IPv6's minimum every pod's IPv6 setting would fail at ADD.
    [["--subnet", "10.244.1.0/24", "--mtu", "1000"], /--mtu must be 1280…65535/],
    [["--subnet", "10.244.1.0/24", "--mtu", "70000"], /--mtu must be 1280…65535/],
  ];
  for (const [args, re] of cases) {
    const r = await podnet("install", ...args);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.err, re);
  }
});

Deno.test("install, uninstall and status print their --help", async () => {
  for (const cmd of ["install", "uninstall", "status"]) {
    const r = await podnet(cmd, "--help");
    assert.equal(r.code, 0);
    assert.match(r.out, new RegExp(`^usage: podnet ${cmd}`));
  }
});

Deno.test("install --runtime containerd takes the CNI dirs from containerd's config.toml, writes no hook, and prints the settings the node needs", async () => {
  const d = dirs();
  try {
    // Debian's packaged config.toml has this shape (bin_dir = "/usr/lib/cni"); max_conf_num as a node may have it.
    const config = `${d.root}/config.toml`;
    Deno.writeTextFileSync(
      config,
      `version = 2\n[plugins]\n  [plugins."io.containerd.grpc.v1.cri"]\n` +
        `    [plugins."io.containerd.grpc.v1.cri".cni]\n      bin_dir = "${d.bin}"\n      conf_dir = "${d.conf}"\n` +
        `      max_conf_num = 2\n  [plugins."io.containerd.internal.v1.opt"]\n    path = "/var/lib/containerd/opt"\n`,
    );
    const r = await podnet(
      "install",
      "--runtime",
      "containerd",
      "--containerd-config",
      config,
      "--subnet",
      "10.244.1.0/24",
    );
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(tree(d.root), [
      "/config.toml",
      `/etc/cni/net.d/${CONFLIST_NAME}`,
      `/opt/cni/bin/${MANIFEST_NAME}`,
      `/opt/cni/bin/${BIN_NAME}`,
    ]);
    assert.match(r.out, new RegExp(`containerd: bin_dir ${d.bin} \\(from ${config}\\)`));
    assert.match(r.out, /warning: .*\/loopback is missing/);
    assert.match(r.out, /warning: .* sets max_conf_num = 2: containerd attaches every list it loads/);
    assert.ok(
      r.out.includes(
        `  [plugins."io.containerd.grpc.v1.cri".cni]\n    bin_dir = "${d.bin}"\n    conf_dir = "${d.conf}"\n    max_conf_num = 1\n`,
      ),
      r.out,
    );
    assert.ok(r.out.includes('    runtime_type = "io.containerd.runc.v2"\n    options = { BinaryName = "/usr/local/'));
    assert.match(r.out.replaceAll("\n", " "), /only through an `imports` line in config\.toml/);
    // Uninstall needs no containerd flag: the record names what install wrote.
    const u = await podnet("uninstall", "--cni-bin-dir", d.bin, "--cni-conf-dir", d.conf, "--no-hook");
    assert.equal(u.code, 0, u.err);
    assert.deepEqual(tree(d.root), ["/config.toml"]);
  } finally {
    Deno.removeSync(d.root, { recursive: true });
  }
});

Deno.test("install --runtime containerd without a config.toml plans for containerd's default dirs", async () => {
  const r = await podnet(
    "install",
    "--runtime",
    "containerd",
    "--containerd-config",
    "/nonexistent/config.toml",
    "--subnet",
    "10.244.1.0/24",
    "--dry-run",
  );
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /create +binary +\/opt\/cni\/bin\/podnet /);
  assert.match(r.out, /create +conflist \/etc\/cni\/net\.d\/10-podnet\.conflist /);
  assert.doesNotMatch(r.out, /hooks\.d/);
  assert.match(
    r.out,
    /containerd: bin_dir \/opt\/cni\/bin \(containerd's default; \/nonexistent\/config\.toml does not exist\)/,
  );
});
