/**
 * Removes credentials from a text before it reaches a log line, an error or health output: the password
 * itself wherever it appears, and the user-info part of any URI.
 */
export function redactSecrets(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = text.replace(
    /([a-z][a-z0-9+.-]*:\/\/)([^\s/@:]*)(:[^\s/@]*)?@/gi,
    (_match, scheme: string, user: string, password?: string) => `${scheme}${user}${password ? ':***' : ''}@`,
  );
  for (const secret of secrets) {
    if (secret && secret.length > 0) out = out.split(secret).join('***');
  }
  return out;
}
