import assert from "node:assert/strict";
import { type BundleManifest, staleBundle, staleSource } from "./bundle_entry.ts";

const manifest: BundleManifest = {
  deno: "2.9.6",
  bundle: "82000:5.000000005",
  sources: [["cni/add.ts", "10:1.000000001"], ["core/io.ts", "20:2.000000002"]],
};

Deno.test("staleSource: null while every stamp matches, else the first source that differs or is gone", () => {
  const stamps: Record<string, string | null> = {
    "/r/cni/add.ts": "10:1.000000001",
    "/r/core/io.ts": "20:2.000000002",
  };
  const stamp = (p: string): string | null => stamps[p] ?? null;
  assert.equal(staleSource("/r/", manifest, stamp), null);
  stamps["/r/core/io.ts"] = "20:2.000000003"; // touched: same size, newer mtime
  assert.equal(staleSource("/r/", manifest, stamp), "core/io.ts changed");
  stamps["/r/cni/add.ts"] = null;
  assert.equal(staleSource("/r/", manifest, stamp), "cni/add.ts is gone");
});

Deno.test("staleSource: a manifest without sources never counts as up to date", () => {
  assert.equal(
    staleSource("/r/", { deno: "2.9.6", bundle: "x", sources: [] }, () => "x"),
    "its manifest lists no sources",
  );
  assert.equal(
    staleSource("/r/", { deno: "2.9.6" } as unknown as BundleManifest, () => "x"),
    "its manifest lists no sources",
  );
});

Deno.test("staleBundle: the manifest must be this bundle's (a rebuild writes the bundle, then its manifest)", () => {
  const stamps: Record<string, string> = {
    "/r/dist/cni.js": "82000:5.000000005",
    "/r/cni/add.ts": "10:1.000000001",
    "/r/core/io.ts": "20:2.000000002",
  };
  const stamp = (p: string): string | null => stamps[p] ?? null;
  assert.equal(staleBundle("/r/", "/r/dist/cni.js", manifest, stamp), null);
  stamps["/r/dist/cni.js"] = "82010:6.000000006"; // a new bundle, its manifest not yet written
  assert.equal(staleBundle("/r/", "/r/dist/cni.js", manifest, stamp), "dist/cni.json belongs to another build of it");
});

Deno.test("the bundle carries exactly the CNI role's modules the registry names", async () => {
  const { COMMANDS } = await import("./commands.ts");
  const { CNI_ROLE } = await import("./bundle_entry.ts");
  const cni = COMMANDS.cni!;
  assert.deepEqual(Object.keys(CNI_ROLE).sort(), [cni.module, ...cni.lazy].sort());
});
