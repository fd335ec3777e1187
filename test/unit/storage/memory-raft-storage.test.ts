import { describe } from 'vitest';
import { MemoryRaftStorage } from '../../../src/storage/memory-raft-storage.js';
import { raftStorageContract } from './raft-storage-contract.js';

describe('MemoryRaftStorage', () => {
  raftStorageContract(async () => {
    const storage = new MemoryRaftStorage();
    return {
      storage,
      // What "survives a restart" of the twin is its durable state: clone() copies exactly that.
      async reopen() {
        const copy = storage.clone();
        await storage.close();
        return copy;
      },
    };
  });
});
