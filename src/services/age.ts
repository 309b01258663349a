/**
 * Whole years between a YYYY-MM-DD birthdate and today (UTC). Runs on every profile read
 * and search hit, so the usual shape is read digit by digit (no split, no arrays); any
 * other string falls back to splitting on '-'.
 */
export function ageFrom(birthdate: string | null, now = new Date()): number | null {
  if (!birthdate) return null;
  const parsed = isoDateParts(birthdate) ?? splitDateParts(birthdate);
  if (!parsed) return null;
  const [y, m, d] = parsed;
  let age = now.getUTCFullYear() - y;
  const month = now.getUTCMonth() + 1;
  if (month < m || (month === m && now.getUTCDate() < d)) age -= 1;
  return age;
}

/** [year, month, day] of exactly `YYYY-MM-DD`, or undefined. */
function isoDateParts(s: string): [number, number, number] | undefined {
  if (s.length !== 10 || s.charCodeAt(4) !== DASH || s.charCodeAt(7) !== DASH) return undefined;
  const y = digits(s, 0, 4);
  const m = digits(s, 5, 7);
  const d = digits(s, 8, 10);
  return y < 0 || m < 0 || d < 0 ? undefined : [y, m, d];
}

const DASH = 45;
const ZERO = 48;

/** The decimal number in s[from, to), or -1 if a character is not a digit. */
function digits(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - ZERO;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

function splitDateParts(s: string): [number, number, number] | undefined {
  const [y, m, d] = s.split('-').map(Number);
  return y === undefined || m === undefined || d === undefined ? undefined : [y, m, d];
}

/** The date `years` years before today (UTC), as YYYY-MM-DD; Feb 29 falls back to Feb 28. */
export function yearsAgo(years: number, now = new Date()): string {
  const y = now.getUTCFullYear() - years;
  const m = now.getUTCMonth();
  let d = now.getUTCDate();
  const daysInMonth = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  if (d > daysInMonth) d = daysInMonth;
  return `${String(y).padStart(4, '0')}-${String(m + 1).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}
