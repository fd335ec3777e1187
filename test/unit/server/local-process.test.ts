/**
 * A server LocalProcess starts is defined by its argv alone: the role-specific server settings
 * of the launcher's environment (cli/server-config.ts) do not reach it.
 */
import { describe, expect, it } from 'vitest';
import { withoutServerSettings } from '../../../src/server/local-process.js';

describe('withoutServerSettings', () => {
  it('drops CAIRN_META_*, CAIRN_CHUNK_*, CAIRN_GATEWAY_* and keeps everything else', () => {
    const env = {
      PATH: '/bin',
      CAIRN_META: '127.0.0.1:7001',
      CAIRN_TOKEN_FILE: '/t',
      CAIRN_LOG_LEVEL: 'debug',
      CAIRN_META_TICK_MS: '5',
      CAIRN_CHUNK_ZONE: 'z',
      CAIRN_GATEWAY_LISTEN: '0.0.0.0:1',
      CAIRN_CHUNK_CONFIG: '/c.json',
    };
    expect(withoutServerSettings(env)).toEqual({ PATH: '/bin', CAIRN_META: '127.0.0.1:7001', CAIRN_TOKEN_FILE: '/t', CAIRN_LOG_LEVEL: 'debug' });
  });
});
