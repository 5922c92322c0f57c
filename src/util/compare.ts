/**
 * Code-point order for sorting names and IDs. `localeCompare` would give the same order for
 * the ASCII names dovesnap sorts, but loads ICU's collation data into the daemon (about 8 MB
 * of resident memory) for nothing.
 */
export function byString(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function byName(a: { readonly name: string }, b: { readonly name: string }): number {
  return byString(a.name, b.name);
}
