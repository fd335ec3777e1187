import { describe } from 'vitest';
import { MemoryKvStore } from '../../../src/storage/memory-kv-store.js';
import { kvStoreContract } from './kv-store-contract.js';

describe('MemoryKvStore', () => {
  kvStoreContract(async () => new MemoryKvStore());
});
