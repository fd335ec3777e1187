/**
 * Deleting a directory tree in bounded steps. `rm -r` was one command that deleted a whole tree
 * in one transaction on every member: a tree of ~100,000 entries held them all for ~2 s, long
 * enough for an election (bench/RESULTS.md, fifteenth session). Now the command unlinks the
 * directory (it is gone from the namespace at once) and deletes at most TREE_DELETE_ENTRIES
 * entries of it; what is left stays in the trash:
 *
 *   t/<inode>  → (empty) a directory unlinked from the namespace whose contents are being deleted
 *
 * and the leader proposes `purgeTrash` commands, each deleting at most that many more, until the
 * trash is empty (TrashPurger in leader/namespace-calls.ts; a new leader resumes). A
 * subdirectory met on the way is unlinked and becomes a trash root of its own, so every step is
 * bounded and deterministic: the same commands on the same state delete the same entries on every
 * member. A trashed file still counts in status totals and holds its chunks until its step comes
 * (HDFS removes a deleted tree's blocks in the background the same way).
 */
import { CairnError } from '../util/errors.js';
import { childrenEnd, childrenStart, decodeDentry, hex, inodeKey, INODE_HEX_WIDTH, type MetaTxn } from './namespace-keys.js';

export const TRASH_PREFIX = 't/';
const TRASH_END = 't0';
/** Entries (files and directories) one command deletes at most: ~20–40 ms of apply here. */
export const TREE_DELETE_ENTRIES = 2_000;
const NO_VALUE = new Uint8Array(0);

export function trashKey(inode: number): string {
  return TRASH_PREFIX + hex(inode);
}

/** Is anything waiting in the trash? */
export function hasTrash(view: Pick<MetaTxn, 'range'>): boolean {
  for (const _ of view.range(TRASH_PREFIX, TRASH_END, 1)) return true;
  return false;
}

/** Deletes a file's inode with everything it holds (namespace.ts removeFileInode). */
export type RemoveFile = (txn: MetaTxn, inode: number) => void;

/** Directory `dir` was just unlinked: delete what one command may of it now, trash the rest. */
export function deleteTree(txn: MetaTxn, dir: number, removeFile: RemoveFile): void {
  txn.put(trashKey(dir), NO_VALUE);
  const left = purgeDir(txn, dir, TREE_DELETE_ENTRIES, removeFile);
  if (left > 0) purgeTrash(txn, left, removeFile);
}

/** Delete up to `budget` entries from the trash, in trash-key order; returns how many were deleted. */
export function purgeTrash(txn: MetaTxn, budget: number, removeFile: RemoveFile): number {
  let left = budget;
  // Each root found starts the next search after it: the roots emptied are only staged deletes,
  // which LMDB would walk again from the start (roots this command adds below go in a later one).
  let from = TRASH_PREFIX;
  while (left > 0) {
    let root: string | undefined;
    for (const [key] of txn.range(from, TRASH_END, 1)) root = key;
    if (root === undefined) break;
    from = `${root}\u0000`;
    const dir = Number.parseInt(root.slice(TRASH_PREFIX.length), 16);
    if (root.length !== TRASH_PREFIX.length + INODE_HEX_WIDTH || !Number.isSafeInteger(dir)) throw new CairnError('Corrupt', `namespace: malformed trash key ${root}`);
    left = purgeDir(txn, dir, left, removeFile);
  }
  return budget - left;
}

/**
 * Delete up to `budget` entries of trashed directory `dir`: its children (files with everything
 * they hold, subdirectories unlinked into the trash), then, once it is empty, itself (inode and
 * trash key). Returns the budget left.
 */
function purgeDir(txn: MetaTxn, dir: number, budget: number, removeFile: RemoveFile): number {
  const end = childrenEnd(dir);
  let start = childrenStart(dir);
  let left = budget;
  while (left > 0) {
    const page = [...txn.range(start, end, Math.min(left, 1024))];
    if (page.length === 0) {
      txn.del(inodeKey(dir));
      txn.del(trashKey(dir));
      return left - 1; // the directory itself is an entry too
    }
    for (const [key, value] of page) {
      const child = decodeDentry(value);
      txn.del(key);
      if (child.type === 'file') removeFile(txn, child.inode);
      else txn.put(trashKey(child.inode), NO_VALUE);
      left--;
    }
    // Continue after the last key: the deleted ones are only staged, so LMDB would still walk them.
    start = `${page[page.length - 1]![0]}\u0000`;
  }
  return 0;
}
