// A shopper's purchase, end to end, in a real browser: browse as a guest, add
// an in-stock variant to the cart, sign in, check out with tok_visa and watch
// the order become CONFIRMED.
//
//   node e2e/purchase.mjs <storefront base URL> <customer token>
//
// CHROMIUM_PATH: the browser (default /usr/bin/chromium; playwright-core
// downloads none). SCREENSHOT: a path to write a screenshot of the last page.
// Nothing may leave the machine: names other than loopback do not resolve,
// and any request to another host is aborted and fails the run. Every GraphQL
// request must carry a trusted document id and no query text.
import { chromium } from 'playwright-core';

const [baseUrl, token] = process.argv.slice(2);
if (!baseUrl || !token) {
  console.error('usage: node e2e/purchase.mjs <storefront base URL> <customer token>');
  process.exit(1);
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const offMachine = [];
const notIdsOnly = [];

function step(message) {
  console.log(`- ${message}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: ['--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost'],
});
const page = await browser.newPage();

await page.route('**/*', (route) => {
  const request = route.request();
  const url = new URL(request.url());
  if (!LOOPBACK.has(url.hostname)) {
    offMachine.push(request.url());
    return route.abort('blockedbyclient');
  }
  if (url.pathname === '/graphql') {
    const body = request.postDataJSON();
    if (!body?.extensions?.persistedQuery?.sha256Hash || 'query' in body) {
      notIdsOnly.push(request.postData() ?? request.url());
    }
  }
  return route.continue();
});
page.on('pageerror', (error) => console.log(`  page error: ${error.message}`));
page.on('console', (message) => {
  if (message.type() === 'error') console.log(`  console error: ${message.text()}`);
});

let failure;
try {
  step(`open ${baseUrl}`);
  await page.goto(baseUrl);

  const category = page.getByTestId('category-link').first();
  step(`pick the category ${(await category.innerText()).trim()}`);
  await category.click();
  await page.getByTestId('product-link').first().waitFor();

  const products = await page.getByTestId('product-link').all();
  const listing = page.url();
  let added = false;
  for (const link of products) {
    const name = (await link.innerText()).trim();
    await link.click();
    await page.getByTestId('variant').first().waitFor();
    const inStock = page.locator('[data-testid="variant"][data-stock="in"]').first();
    if ((await inStock.count()) === 0) {
      step(`${name}: no variant in stock, next product`);
      await page.goto(listing);
      await page.getByTestId('product-link').first().waitFor();
      continue;
    }
    step(`open ${name} and add its variant ${(await inStock.locator('td').first().innerText()).trim()} to the cart, as a guest`);
    await inStock.getByTestId('add-to-cart').click();
    await inStock.getByTestId('added').waitFor();
    added = true;
    break;
  }
  if (!added) throw new Error('no product on the first page of the category has a variant in stock');

  step('open the cart');
  await page.getByTestId('cart-link').click();
  await page.getByTestId('cart-line').first().waitFor();
  step(`the cart holds ${await page.getByTestId('cart-line').count()} line(s), subtotal ${await page.getByTestId('cart-subtotal').innerText()}`);

  step('sign in with the customer token');
  await page.getByTestId('sign-in-token').fill(token);
  await page.getByTestId('sign-in').click();
  // The checkout form shows once the token is accepted and the cart read with it.
  await page
    .getByTestId('payment-token')
    .waitFor({ timeout: 10_000 })
    .catch(() => {
      throw new Error('no checkout form after signing in: was the token refused?');
    });
  step(`${await page.getByTestId('signed-in-as').innerText()}, the guest cart still holds ${await page.getByTestId('cart-line').count()} line(s)`);

  step('ship to an address in London and check out with tok_visa');
  for (const [part, value] of [['name', 'Ada Lovelace'], ['line1', '12 Analytical Row'], ['city', 'London'], ['postalCode', 'sw1a 1aa'], ['country', 'GB']]) {
    await page.getByTestId(`address-${part}`).fill(value);
  }
  await page.getByTestId('payment-token').selectOption('tok_visa');
  // Shipping to the UK and VAT are quoted before anything is ordered.
  await page.getByTestId('shipping-EXPRESS').check();
  const quoted = await page.getByTestId('quote-total').innerText();
  step(`quoted ${quoted} with express shipping and tax`);
  await page.getByTestId('checkout').click();
  await page.waitForURL('**/orders/*', { timeout: 15_000 }).catch(async () => {
    const errors = await page.getByTestId('user-error').or(page.getByTestId('error')).allInnerTexts();
    throw new Error(`checkout did not reach the order page: ${errors.join('; ') || 'no error shown'}`);
  });
  const status = page.getByTestId('order-status');
  step(`on the order page ${new URL(page.url()).pathname}, status ${await status.innerText()}`);

  step('wait up to 60 s for CONFIRMED');
  await page
    .waitForFunction(
      () => ['CONFIRMED', 'REJECTED', 'PAYMENT_FAILED', 'CANCELLED'].includes(document.querySelector('[data-testid="order-status"]')?.textContent ?? ''),
      null,
      { timeout: 60_000 },
    )
    .catch(() => {});
  const final = await status.innerText();
  if (final !== 'CONFIRMED') throw new Error(`the order is ${final}, not CONFIRMED`);
  const charged = await page.getByTestId('order-total').innerText();
  if (charged !== quoted) throw new Error(`the order costs ${charged}, but ${quoted} was quoted`);
  const shipsTo = await page.getByTestId('shipping-address').innerText();
  if (!shipsTo.includes('SW1A 1AA')) throw new Error(`the order page shows no shipping address: ${shipsTo}`);
  step(`order CONFIRMED; timeline: ${(await page.getByTestId('order-timeline').locator('li').allInnerTexts()).join(' | ')}`);
} catch (error) {
  // Playwright's messages go on with a call log: the first line says it.
  failure = (error instanceof Error ? error.message : String(error)).split('\n')[0];
} finally {
  if (process.env.SCREENSHOT) {
    await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true }).catch(() => {});
  }
  await browser.close();
}

if (!failure && offMachine.length > 0) failure = `requests left the machine: ${offMachine.join(', ')}`;
if (!failure && notIdsOnly.length > 0) failure = `GraphQL requests without a document id, or with query text: ${notIdsOnly.join(', ')}`;
if (failure) {
  console.log(`FAILED: ${failure}`);
  process.exit(1);
}
console.log('OK: purchased and confirmed');
