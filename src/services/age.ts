/** Whole years between a YYYY-MM-DD birthdate and today (UTC). */
export function ageFrom(birthdate: string | null, now = new Date()): number | null {
  if (!birthdate) return null;
  const [y, m, d] = birthdate.split('-').map(Number);
  if (y === undefined || m === undefined || d === undefined) return null;
  let age = now.getUTCFullYear() - y;
  const beforeBirthday = now.getUTCMonth() + 1 < m || (now.getUTCMonth() + 1 === m && now.getUTCDate() < d);
  if (beforeBirthday) age -= 1;
  return age;
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
