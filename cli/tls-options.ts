/** The --tls-cert/--tls-key/--tls-ca flags every server command takes (src/server/tls-files.ts). */
export const TLS_OPTIONS: ReadonlyArray<[flags: string, description: string]> = [
  ['--tls-cert <file>', 'serve TLS with this PEM certificate (chain); needs --tls-key and --tls-ca; without it, plain TCP'],
  ['--tls-key <file>', 'PEM private key of --tls-cert'],
  ['--tls-ca <file>', 'PEM CA certificate that verifies the servers this one connects to'],
];
