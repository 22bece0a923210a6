// Code generation reads schema.graphql, the client-facing schema. When it is
// missing, print it with the supergraph binary `cargo run` built, if there is
// one; else say how to make it. SCHEMA (a schema elsewhere) skips all this.
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';

const binary = '../../target/debug/supergraph';

if (!process.env.SCHEMA && !existsSync('schema.graphql')) {
  if (!existsSync(binary)) {
    console.error('schema.graphql is missing: run `npm run schema` (it builds the supergraph with cargo and prints its schema).');
    process.exit(1);
  }
  writeFileSync('schema.graphql', execFileSync(binary, ['schema']));
  console.log(`schema.graphql printed by ${binary}`);
}
