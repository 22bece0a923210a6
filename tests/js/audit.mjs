// The GraphQL-over-HTTP audit (graphql-http's) against one endpoint.
// Usage: node audit.mjs <url>. Prints every result as JSON lines; exits 1
// when a MUST requirement fails.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
const results = await auditServer({ url });
let mustFailures = 0;
for (const result of results) {
  const failed = result.status !== 'ok';
  if (failed && result.name.startsWith('MUST')) mustFailures += 1;
  console.log(JSON.stringify({ status: result.status, name: result.name, reason: failed ? result.reason : undefined }));
}
process.exit(mustFailures > 0 ? 1 : 0);
