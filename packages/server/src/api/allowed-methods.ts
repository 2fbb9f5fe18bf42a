// Which methods a known path takes, from the app's own routes: a wrong method is a 405 with an Allow header.

const ROUTE_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

interface RouteLike {
  method: string;
  path: string;
}

function patternOf(path: string): RegExp {
  const source = path
    .split('/')
    .map((segment) => {
      if (segment.startsWith(':')) return '[^/]+';
      if (segment === '*') return '.*';
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return new RegExp(`^${source}$`);
}

/**
 * A lookup of the methods a request path takes (GET implies HEAD), or undefined for a path no route has.
 * Middleware (method ALL) is left out: it does not make a path known.
 */
export function allowedMethods(routes: readonly RouteLike[]): (path: string) => string[] | undefined {
  const table = new Map<string, { pattern: RegExp; methods: Set<string> }>();
  for (const route of routes) {
    if (!ROUTE_METHODS.includes(route.method)) continue;
    const entry = table.get(route.path) ?? { pattern: patternOf(route.path), methods: new Set<string>() };
    entry.methods.add(route.method);
    table.set(route.path, entry);
  }
  const entries = [...table.values()];
  return (path) => {
    const methods = new Set<string>();
    for (const entry of entries) if (entry.pattern.test(path)) for (const method of entry.methods) methods.add(method);
    if (methods.size === 0) return undefined;
    if (methods.has('GET')) methods.add('HEAD');
    return ['GET', 'HEAD', ...ROUTE_METHODS.slice(1)].filter((method) => methods.has(method));
  };
}
