/**
 * What `podnet install --runtime containerd` knows about containerd (1.6 and
 * 1.7, config version 2, as Debian 12 ships 1.6.20): where its CRI plugin
 * looks for CNI plugins and lists (its built-in defaults, or what the node's
 * config.toml says), and the config.toml settings a node needs for podnet and
 * for gVisor pods. Pure: text in, text out.
 *
 * @module
 */

/** containerd's own defaults: the config file it reads, the CRI plugin's CNI dirs. */
export const CONTAINERD_DEFAULTS = {
  config: "/etc/containerd/config.toml",
  binDir: "/opt/cni/bin",
  confDir: "/etc/cni/net.d",
} as const;

/** Where the deploy docs install deploy/containerd/runsc-cri-wrap. */
export const RUNSC_CRI_WRAPPER = "/usr/local/libexec/podnet/runsc-cri-wrap";

/** The CRI plugin's CNI table in config version 2. */
const CNI_TABLE = 'plugins."io.containerd.grpc.v1.cri".cni';

/** What a config.toml sets for the CRI plugin's CNI (absent keys: containerd's defaults apply). */
export interface ContainerdCni {
  binDir?: string;
  confDir?: string;
  maxConfNum?: number;
}

/**
 * Reads `bin_dir`, `conf_dir` and `max_conf_num` from a config.toml's
 * `[plugins."io.containerd.grpc.v1.cri".cni]` table, the form containerd's
 * `config default` and Debian's packaged file use (dotted keys or inline
 * tables spelling the same are not recognised).
 */
export function containerdCni(toml: string): ContainerdCni {
  const out: ContainerdCni = {};
  let table = "";
  for (const line of toml.split("\n")) {
    const header = /^\s*\[([^[\]]+)\]\s*(?:#.*)?$/.exec(line);
    if (header) {
      table = header[1]!.replace(/\s+/g, "");
      continue;
    }
    if (table !== CNI_TABLE) continue;
    const s = /^\s*(bin_dir|conf_dir)\s*=\s*"([^"]*)"/.exec(line);
    if (s) out[s[1] === "bin_dir" ? "binDir" : "confDir"] = s[2]!;
    const n = /^\s*max_conf_num\s*=\s*(\d+)/.exec(line);
    if (n) out.maxConfNum = Number(n[1]);
  }
  return out;
}

/** The config.toml settings a containerd node needs, for `podnet install` to print. */
export function containerdSettings(binDir: string, confDir: string): string {
  return `containerd: podnet needs these settings in /etc/containerd/config.toml (config version 2: containerd
1.6 and 1.7). bin_dir must also hold the reference plugins host-local, portmap, tuning and loopback
(containerd adds a loopback network of its own to every pod); max_conf_num = 1 because containerd
attaches every list it loads.

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${JSON.stringify(binDir)}
    conf_dir = ${JSON.stringify(confDir)}
    max_conf_num = 1

gVisor pods (a RuntimeClass with handler "runsc"): Debian's runsc ships no containerd shim, so
containerd's runc shim runs it through podnet's wrapper (deploy/containerd/runsc-cri-wrap, installed
as ${RUNSC_CRI_WRAPPER}):

  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runsc]
    runtime_type = "io.containerd.runc.v2"
    options = { BinaryName = ${JSON.stringify(RUNSC_CRI_WRAPPER)} }

Where gVisor's own containerd-shim-runsc-v1 is installed, use runtime_type = "io.containerd.runsc.v1"
(without the wrapper) instead.

containerd 1.6 reads a drop-in file (such as /etc/containerd/conf.d/podnet.toml) only through an
\`imports\` line in config.toml, and an imported file replaces config.toml's whole
[plugins."io.containerd.grpc.v1.cri"] section rather than merging keys into it: put these lines in
config.toml itself, or import a file holding the complete CRI section. Restart containerd once after
changing config.toml; changes to the network list it picks up by itself.
`;
}
