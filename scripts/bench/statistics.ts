/** The statistics that both benchmark reports show. */

export interface Statistics {
  median: number;
  p90: number;
  min: number;
}

/**
 * Returns the median (the mean of the two middle values for an even count),
 * the p90 by the nearest-rank method (the value at rank ceil(0.9 n)) and
 * the minimum, or undefined for no values.
 */
export function computeStatistics(values: number[]): Statistics | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  const median = Number.isInteger(middle) ? ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2 : (sorted[Math.floor(middle)] ?? 0);
  const p90 = sorted[Math.max(1, Math.ceil(0.9 * sorted.length)) - 1] ?? Number.NaN;
  return { median, p90, min: sorted[0] ?? 0 };
}
