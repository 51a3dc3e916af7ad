import assert from "node:assert/strict";
import { containerdCni } from "./containerd.ts";

Deno.test("containerdCni reads bin_dir, conf_dir and max_conf_num from the CRI plugin's cni table only", () => {
  const toml = `version = 2
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "registry.example/pause:3.6"
    [plugins."io.containerd.grpc.v1.cri" . cni]   # spaces around the dots are allowed
      bin_dir = "/usr/lib/cni"
      conf_dir = "/etc/cni/net.d"
      max_conf_num = 1
  [plugins."io.containerd.internal.v1.opt"]
    path = "/var/lib/containerd/opt"
    bin_dir = "/not/this/one"
`;
  assert.deepEqual(containerdCni(toml), { binDir: "/usr/lib/cni", confDir: "/etc/cni/net.d", maxConfNum: 1 });
  assert.deepEqual(
    containerdCni('version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd]\n  snapshotter = "x"\n'),
    {},
  );
});
