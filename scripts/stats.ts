/**
 * Order statistics for the measuring scripts (bench.ts, measure_*.ts).
 *
 * @module
 */

/** The `p`-th percentile of `xs` (nearest rank, 0 ≤ p ≤ 100); NaN when `xs` is empty. */
export function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

/** The median of `xs`, the mean of the two middle values for an even count; NaN when `xs` is empty. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
