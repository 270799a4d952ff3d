/**
 * Parses `WWW-Authenticate` challenges (RFC 7235 §4.1) as registries send them:
 * `Bearer realm="https://auth.example.com/token",service="registry",scope="repository:a/b:pull"`
 * or `Basic realm="Registry"`. Several challenges may share one header.
 */

export interface AuthChallenge {
  /** Lower-case scheme: `bearer`, `basic`, … */
  scheme: string;
  params: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/;

/** All challenges in the header values, in order; unparseable tails are ignored. */
export function parseWwwAuthenticate(values: string | string[] | undefined): AuthChallenge[] {
  if (values === undefined) return [];
  const out: AuthChallenge[] = [];
  for (const value of Array.isArray(values) ? values : [values]) {
    let rest = value.trim();
    let current: AuthChallenge | undefined;
    while (rest !== '') {
      const token = TOKEN.exec(rest)?.[0];
      if (token === undefined) break;
      const after = rest.slice(token.length).trimStart();
      if (after.startsWith('=') && current !== undefined) {
        // auth-param: name=value or name="quoted value"
        rest = after.slice(1).trimStart();
        let paramValue: string;
        if (rest.startsWith('"')) {
          let i = 1;
          paramValue = '';
          while (i < rest.length && rest[i] !== '"') {
            if (rest[i] === '\\' && i + 1 < rest.length) i++;
            paramValue += rest[i];
            i++;
          }
          rest = rest.slice(i + 1);
        } else {
          paramValue = TOKEN.exec(rest)?.[0] ?? '';
          rest = rest.slice(paramValue.length);
        }
        current.params[token.toLowerCase()] = paramValue;
      } else {
        current = { scheme: token.toLowerCase(), params: {} };
        out.push(current);
        rest = after;
      }
      rest = rest.trimStart();
      if (rest.startsWith(',')) rest = rest.slice(1).trimStart();
    }
  }
  return out;
}
