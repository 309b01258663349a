/**
 * The password policy, deliberately short (NIST SP 800-63B favours length over
 * composition rules):
 *  - 10 to 200 characters (the cap bounds the cost of hashing an attacker's input);
 *  - characters from at least two classes: lower-case, upper-case, digits, other;
 *  - not the email address or the user name.
 * Returns the list of problems, empty when the password is acceptable.
 */
export const PASSWORD_MIN_LENGTH = 10;
export const PASSWORD_MAX_LENGTH = 200;

const CLASSES: readonly RegExp[] = [/\p{Ll}/u, /\p{Lu}/u, /\p{Nd}/u, /[^\p{Ll}\p{Lu}\p{Nd}]/u];

export function passwordProblems(password: string, identity: { email?: string; username?: string } = {}): string[] {
  const problems: string[] = [];
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) problems.push(`must be at least ${PASSWORD_MIN_LENGTH} characters`);
  if (length > PASSWORD_MAX_LENGTH) problems.push(`must be at most ${PASSWORD_MAX_LENGTH} characters`);
  const classes = CLASSES.filter((re) => re.test(password)).length;
  if (classes < 2) problems.push('must mix at least two of: lower-case, upper-case, digits, other characters');
  const lower = password.toLowerCase();
  if ((identity.email && lower === identity.email.toLowerCase()) || (identity.username && lower === identity.username.toLowerCase())) {
    problems.push('must not be your email or user name');
  }
  return problems;
}
