/** Reading JSON log lines as text: JSON.parse keeps only the last of a repeated key, so keys are read from the raw line. */

/** The top-level keys of one JSON object line, in order, repeats included. */
export function rawKeys(line: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
    else if (ch === '"') {
      let j = i + 1;
      while (line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
      if (depth === 1 && line[j + 1] === ':') keys.push(JSON.parse(line.slice(i, j + 1)) as string);
      i = j;
    }
  }
  return keys;
}

/** Keys that appear more than once at the top level of `line`. */
export function repeatedKeys(line: string): string[] {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const k of rawKeys(line)) (seen.has(k) ? twice : seen).add(k);
  return [...twice];
}
