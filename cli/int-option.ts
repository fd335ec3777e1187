/** A commander option parser for whole numbers >= min, failing with a one-line InvalidArgument. */
import { CairnError } from '../src/util/errors.js';

export function intOption(name: string, min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min) throw new CairnError('InvalidArgument', `${name} must be an integer >= ${min}: ${v}`);
    return n;
  };
}
