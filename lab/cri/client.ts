/**
 * A CRI client: speaks `runtime.v1.RuntimeService` over a unix socket the way
 * kubelet does, for the tests, the measuring script and the demo (crictl is
 * not obtainable here). The wire schema is lab/cri/runtime.proto, podnet's own
 * subset of the CRI; messages keep the proto's snake_case field names
 * (`keepCase`), so what a test writes reads like the CRI's documentation.
 *
 * @module
 */

import * as grpc from "npm:@grpc/grpc-js@1.14.7";
import * as protoLoader from "npm:@grpc/proto-loader@0.8.1";

const PROTO = new URL("./runtime.proto", import.meta.url).pathname;

/** NamespaceMode as the CRI names it. */
export type NamespaceMode = "POD" | "CONTAINER" | "NODE" | "TARGET";

/** NamespaceOption (kubelet: network POD, pid CONTAINER, ipc POD; hostNetwork: network NODE). */
export interface NamespaceOption {
  network?: NamespaceMode;
  pid?: NamespaceMode;
  ipc?: NamespaceMode;
  target_id?: string;
}

/** PodSandboxMetadata. */
export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt?: number;
}

/** PodSandboxConfig: what RunPodSandbox and CreateContainer take. */
export interface PodSandboxConfig {
  metadata: PodSandboxMetadata;
  hostname?: string;
  log_directory?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  linux?: {
    cgroup_parent?: string;
    security_context?: { namespace_options?: NamespaceOption; privileged?: boolean };
    sysctls?: Record<string, string>;
  };
}

/** ContainerConfig. */
export interface ContainerConfig {
  metadata: { name: string; attempt?: number };
  image: { image: string };
  command?: string[];
  args?: string[];
  working_dir?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  log_path?: string;
  linux?: { security_context?: { namespace_options?: NamespaceOption; privileged?: boolean } };
}

/** VersionResponse. */
export interface VersionResponse {
  version: string;
  runtime_name: string;
  runtime_version: string;
  runtime_api_version: string;
}

/** PodSandboxState. */
export type PodSandboxState = "SANDBOX_READY" | "SANDBOX_NOTREADY";

/** PodSandboxStatus (int64 timestamps as decimal strings: nanoseconds exceed 2^53). */
export interface PodSandboxStatus {
  id: string;
  metadata: PodSandboxMetadata | null;
  state: PodSandboxState;
  created_at: string;
  network: { ip: string; additional_ips: { ip: string }[] } | null;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runtime_handler: string;
}

/** PodSandboxStatusResponse; `info` only when asked verbosely. */
export interface PodSandboxStatusResponse {
  status: PodSandboxStatus;
  info: Record<string, string>;
}

/** An item of ListPodSandbox. */
export interface PodSandbox {
  id: string;
  metadata: PodSandboxMetadata | null;
  state: PodSandboxState;
  created_at: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runtime_handler: string;
}

/** PodSandboxFilter. */
export interface PodSandboxFilter {
  id?: string;
  state?: { state: PodSandboxState };
  label_selector?: Record<string, string>;
}

/** ContainerState. */
export type ContainerState = "CONTAINER_CREATED" | "CONTAINER_RUNNING" | "CONTAINER_EXITED" | "CONTAINER_UNKNOWN";

/** ContainerStatus. */
export interface ContainerStatus {
  id: string;
  state: ContainerState;
  created_at: string;
  started_at: string;
  finished_at: string;
  exit_code: number;
  reason: string;
  message: string;
  log_path: string;
}

/** ExecSyncResponse, output decoded as UTF-8. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  exit_code: number;
}

/** A failed CRI call: the gRPC status code and the runtime's message (containerd's, with the CNI plugin's inside). */
export class CriError extends Error {
  constructor(readonly method: string, readonly code: number, readonly details: string) {
    super(`CRI ${method}: ${grpc.status[code] ?? code}: ${details}`);
    this.name = "CriError";
  }
}

let definition: grpc.GrpcObject | null = null;

function service(): grpc.ServiceClientConstructor {
  definition ??= grpc.loadPackageDefinition(
    // String longs and enum names: the answers read as the CRI documents them, without a Long type.
    protoLoader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true, arrays: true }),
  );
  const v1 = (definition.runtime as grpc.GrpcObject).v1 as grpc.GrpcObject;
  return v1.RuntimeService as grpc.ServiceClientConstructor;
}

type Unary = (req: unknown, meta: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<unknown>) => void;

/** A connection to one CRI runtime endpoint. */
export class CriClient {
  readonly #client: grpc.Client;
  readonly #timeoutMs: number;

  /**
   * `socket` is a unix socket path; `timeoutMs` is each call's deadline, long enough for a
   * RunPodSandbox under load (kubelet's own default runtime-request-timeout is 2 minutes).
   */
  constructor(socket: string, timeoutMs = 120_000) {
    const Ctor = service();
    this.#client = new Ctor(`unix://${socket}`, grpc.credentials.createInsecure());
    this.#timeoutMs = timeoutMs;
  }

  #call<T>(method: string, req: unknown): Promise<T> {
    const fn = (this.#client as unknown as Record<string, Unary>)[method]!.bind(this.#client);
    return new Promise((resolve, reject) => {
      fn(req, new grpc.Metadata(), { deadline: Date.now() + this.#timeoutMs }, (err, res) => {
        if (err) reject(new CriError(method, err.code ?? grpc.status.UNKNOWN, err.details ?? err.message));
        else resolve(res as T);
      });
    });
  }

  /** Version: the runtime's name and versions. */
  version(): Promise<VersionResponse> {
    return this.#call("Version", { version: "v1" });
  }

  /** RunPodSandbox: creates the pod's netns (the CNI ADD runs here) and starts its sandbox; returns its ID. */
  async runPodSandbox(config: PodSandboxConfig, runtimeHandler = ""): Promise<string> {
    const r = await this.#call<{ pod_sandbox_id: string }>("RunPodSandbox", {
      config,
      runtime_handler: runtimeHandler,
    });
    return r.pod_sandbox_id;
  }

  /** PodSandboxStatus; `verbose` adds the runtime's `info` (containerd: JSON with the netns path, the CNI result). */
  podSandboxStatus(id: string, verbose = false): Promise<PodSandboxStatusResponse> {
    return this.#call("PodSandboxStatus", { pod_sandbox_id: id, verbose });
  }

  /** StopPodSandbox: stops its containers and tears its network down (CNI DEL); idempotent. */
  async stopPodSandbox(id: string): Promise<void> {
    await this.#call("StopPodSandbox", { pod_sandbox_id: id });
  }

  /** RemovePodSandbox: forgets a stopped sandbox; idempotent. */
  async removePodSandbox(id: string): Promise<void> {
    await this.#call("RemovePodSandbox", { pod_sandbox_id: id });
  }

  /** ListPodSandbox. */
  async listPodSandbox(filter: PodSandboxFilter = {}): Promise<PodSandbox[]> {
    return (await this.#call<{ items: PodSandbox[] }>("ListPodSandbox", { filter })).items;
  }

  /** CreateContainer in a sandbox; returns the container's ID. */
  async createContainer(podId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    const r = await this.#call<{ container_id: string }>("CreateContainer", {
      pod_sandbox_id: podId,
      config,
      sandbox_config: sandboxConfig,
    });
    return r.container_id;
  }

  /** StartContainer. */
  async startContainer(id: string): Promise<void> {
    await this.#call("StartContainer", { container_id: id });
  }

  /** StopContainer: the stop signal, then SIGKILL after `timeoutS` seconds. */
  async stopContainer(id: string, timeoutS = 0): Promise<void> {
    await this.#call("StopContainer", { container_id: id, timeout: timeoutS });
  }

  /** RemoveContainer. */
  async removeContainer(id: string): Promise<void> {
    await this.#call("RemoveContainer", { container_id: id });
  }

  /** ContainerStatus. */
  async containerStatus(id: string): Promise<ContainerStatus> {
    return (await this.#call<{ status: ContainerStatus }>("ContainerStatus", { container_id: id })).status;
  }

  /** ExecSync: runs `cmd` in the container and waits for it (at most `timeoutS` seconds). */
  async execSync(id: string, cmd: string[], timeoutS = 10): Promise<ExecResult> {
    const r = await this.#call<{ stdout: Uint8Array; stderr: Uint8Array; exit_code: number }>("ExecSync", {
      container_id: id,
      cmd,
      timeout: timeoutS,
    });
    const dec = new TextDecoder();
    return { stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr), exit_code: r.exit_code };
  }

  /** Closes the channel (no call may be pending). */
  close(): void {
    this.#client.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
