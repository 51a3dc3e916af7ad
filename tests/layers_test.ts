/**
 * The layer map of docs/architecture.md, enforced: every product module
 * imports only from its own layer and the layers below it, the roles share
 * through named modules and never in a circle, nothing of the product
 * imports lab/, scripts/ or tests/, and nothing outside tests/ imports tests/.
 */

import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** What each folder may import besides itself (docs/architecture.md, "Layers"). */
const MAY_IMPORT: Record<string, string[]> = {
  core: [],
  ffi: [],
  netlink: ["core", "ffi"],
  sys: ["core", "ffi"],
  cni: ["core", "netlink", "sys"],
  sandbox: ["core", "netlink", "sys", "cni"],
  ops: ["core", "netlink", "sys", "cni", "sandbox"],
};

/** The `from "…"` and `import("…")` specifiers of code (type-only imports included: they are edges of the design too). */
function imports(file: string): string[] {
  const text = Deno.readTextFileSync(file).split("\n").filter((l) => !/^\s*(\*|\/\/)/.test(l)).join("\n");
  return [...text.matchAll(/(?:from\s+|import\()\s*"([^"]+)"/g)].map((m) => m[1]!);
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(`${ROOT}/${dir}`)) {
    if (e.isDirectory) out.push(...tsFiles(`${dir}/${e.name}`));
    else if (e.name.endsWith(".ts")) out.push(`${dir}/${e.name}`);
  }
  return out;
}

/** The top-level folder (or root file) a relative specifier of `from` lands in. */
function target(from: string, spec: string): string | null {
  if (!spec.startsWith(".")) return null; // node:, npm:
  const parts = from.split("/").slice(0, -1);
  for (const p of spec.split("/")) {
    if (p === "..") parts.pop();
    else if (p !== ".") parts.push(p);
  }
  return parts[0]!;
}

Deno.test("every product module imports only its own layer and the layers below it", () => {
  const bad: string[] = [];
  for (const [layer, allowed] of Object.entries(MAY_IMPORT)) {
    for (const f of tsFiles(layer)) {
      if (f.endsWith("_test.ts")) continue;
      for (const spec of imports(`${ROOT}/${f}`)) {
        const t = target(f, spec);
        if (t === null || t === layer || allowed.includes(t)) continue;
        bad.push(`${f} imports ${spec}`);
      }
    }
  }
  assert.deepEqual(bad, []);
});

Deno.test("nothing outside tests/ imports tests/, and the product never imports lab/ or scripts/", () => {
  const bad: string[] = [];
  const product = new Set([...Object.keys(MAY_IMPORT), "main.ts", "mod.ts", "commands.ts"]);
  for (const dir of [...Object.keys(MAY_IMPORT), "lab", "scripts", "bench"]) {
    for (const f of tsFiles(dir)) {
      for (const spec of imports(`${ROOT}/${f}`)) {
        const t = target(f, spec);
        if (t === "tests") bad.push(`${f} imports ${spec}`);
        if (product.has(dir) && !f.endsWith("_test.ts") && (t === "lab" || t === "scripts")) {
          bad.push(`${f} imports ${spec}`);
        }
      }
    }
  }
  for (const f of ["main.ts", "mod.ts", "commands.ts"]) {
    for (const spec of imports(`${ROOT}/${f}`)) {
      const t = target(f, spec);
      if (t === "tests" || t === "lab" || t === "scripts") bad.push(`${f} imports ${spec}`);
    }
  }
  assert.deepEqual(bad, []);
});

Deno.test("core is FFI-free: no Deno.dlopen, no UnsafePointer, in any core module", () => {
  for (const f of tsFiles("core")) {
    const text = Deno.readTextFileSync(`${ROOT}/${f}`);
    assert.ok(!/Deno\.(dlopen|UnsafePointer|UnsafeFnPointer|UnsafeCallback)/.test(text), f);
  }
});
