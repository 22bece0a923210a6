// The playground in headless Chromium with no route but loopback: open it,
// run ProductListing from its tab, read the answer.
// Usage: node playground.mjs <graphql url> [screenshot path]
// Prints "requests outside the machine: N" and "ProductListing answered N
// products"; exits 1 when a step fails or a request left the machine.
// CHROMIUM_PATH: the browser (default /usr/bin/chromium).
import { chromium } from 'playwright-core';

const [url, screenshot] = process.argv.slice(2);
const loopback = new Set(['127.0.0.1', 'localhost', '[::1]']);
const outside = [];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: ['--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost'],
});
// A fresh profile: GraphiQL keeps tabs in local storage.
const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
await page.route('**/*', (route) => {
  const target = new URL(route.request().url());
  if (target.protocol.startsWith('http') && !loopback.has(target.hostname)) {
    outside.push(target.href);
    return route.abort('blockedbyclient');
  }
  return route.continue();
});

let failure;
try {
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  // GraphiQL is ready once its editors (Monaco) are.
  await page.waitForSelector('.graphiql-query-editor .monaco-editor', { timeout: 30_000 });
  await page.click('button.graphiql-tab-button[title="ProductListing"]');
  await page.waitForSelector('li.graphiql-tab-active button.graphiql-tab-button[title="ProductListing"]');
  // GraphiQL settles the operation name 100 ms after the editor changes.
  await page.waitForTimeout(300);
  await page.click('button.graphiql-execute-button');
  const answer = await page.waitForFunction(
    () => {
      const model = globalThis.__MONACO?.editor.getModels().find((m) => m.uri.path.endsWith('response.json'));
      const text = model?.getValue() ?? '';
      return text.includes('"data"') || text.includes('"errors"') ? text : false;
    },
    null,
    { timeout: 30_000 },
  );
  const body = JSON.parse(await answer.jsonValue());
  const products = body.data?.products?.edges?.length ?? 0;
  if (products === 0) throw new Error(`no products in the answer: ${JSON.stringify(body).slice(0, 300)}`);
  console.log(`ProductListing answered ${products} products`);
  if (screenshot) await page.screenshot({ path: screenshot });
} catch (error) {
  failure = (error instanceof Error ? error.message : String(error)).split('\n')[0];
} finally {
  await browser.close();
}

console.log(`requests outside the machine: ${outside.length}`);
for (const href of outside) console.log(`  ${href}`);
if (failure || outside.length > 0) {
  console.log(`FAILED: ${failure ?? 'requests left the machine'}`);
  process.exit(1);
}
