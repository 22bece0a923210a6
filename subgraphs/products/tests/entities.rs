//! The entities products owns, resolved the way the router asks for them.
//! The catalog is public, as through `product` and `variant`: a stranger and
//! a signed-in customer get the same answer.

use kit::auth::Viewer;
use events::{Bus, BusConfig, Outbox};
use kit::money::{CurrencyCode, Money};
use kit::server::RequestData;
use kit::testing::{customer, execute, memory_db};
use products::{NewCategory, NewProduct, NewVariant};
use serde_json::json;

async fn schema_with_one_product() -> (products::ProductsSchema, RequestData, String, kit::db::Db) {
    let db = memory_db(vec![events::migrator(), products::migrator(), products::engine_migrator(false)]).await;
    let id = kit::db::new_id();
    let product = NewProduct {
        id: id.clone(),
        slug: "linen-shirt".into(),
        name: "Linen Shirt".into(),
        description: "Cool in summer.".into(),
        category_slug: "shirts".into(),
        created_at: kit::db::now(),
        variants: vec![
            NewVariant { sku: "LINEN-S".into(), name: "S".into(), price: Money::new(4900, CurrencyCode::USD), options: vec![("Size".into(), "S".into())] },
            NewVariant { sku: "LINEN-M".into(), name: "M".into(), price: Money::new(5400, CurrencyCode::USD), options: vec![("Size".into(), "M".into())] },
        ],
        images: vec![],
    };
    let shirts = NewCategory { slug: "shirts".into(), name: "Shirts".into(), parent_slug: None };
    products::insert_catalog(&db, &[shirts], &[product]).await.unwrap();
    let bus = Bus::connect(&BusConfig::InProcess).await.unwrap();
    (products::schema(db.clone(), Outbox::new(db.clone(), bus, kit::work::Retry::default()), "/media/"), products::request_data(&db), id, db)
}

const ENTITIES: &str = "query ($r: [_Any!]!) { _entities(representations: $r) { \
    ... on Product { id slug name priceRange { min { amount } max { amount } } variants { sku } } \
    ... on Variant { sku name price { amount currencyCode } product { slug } } } }";

#[tokio::test]
async fn product_resolves_by_id_and_by_slug() {
    let (schema, request_data, id, _) = schema_with_one_product().await;
    let representations = json!({ "r": [{ "__typename": "Product", "id": id }, { "__typename": "Product", "slug": "linen-shirt" }] });
    for viewer in [Viewer::Anonymous, customer("c1")] {
        let body = execute(&schema, &request_data, ENTITIES, representations.clone(), viewer).await;
        let entities = body["data"]["_entities"].as_array().unwrap();
        for entity in entities {
            assert_eq!(entity["id"], id.as_str(), "{body}");
            assert_eq!(entity["priceRange"], json!({ "min": { "amount": "49.00" }, "max": { "amount": "54.00" } }));
            assert_eq!(entity["variants"], json!([{ "sku": "LINEN-S" }, { "sku": "LINEN-M" }]));
        }
    }
}

#[tokio::test]
async fn variant_resolves_by_sku_and_unknown_ones_are_null() {
    let (schema, request_data, _, _) = schema_with_one_product().await;
    let representations = json!({ "r": [{ "__typename": "Variant", "sku": "LINEN-M" }, { "__typename": "Variant", "sku": "NOPE" }] });
    for viewer in [Viewer::Anonymous, customer("c1")] {
        let body = execute(&schema, &request_data, ENTITIES, representations.clone(), viewer).await;
        assert_eq!(
            body["data"]["_entities"],
            json!([{ "sku": "LINEN-M", "name": "M", "price": { "amount": "54.00", "currencyCode": "USD" }, "product": { "slug": "linen-shirt" } }, null]),
            "{body}"
        );
    }
}

#[tokio::test]
async fn variants_looked_up_by_sku_come_with_their_product_in_one_statement() {
    let (schema, request_data, id, db) = schema_with_one_product().await;
    // What the router asks products for a cart's lines and for an order's.
    let query = "query ($r: [_Any!]!) { _entities(representations: $r) { ... on Variant { sku price { amount } product { id name slug } } } }";
    let representations = json!({ "r": [{ "__typename": "Variant", "sku": "LINEN-S" }, { "__typename": "Variant", "sku": "LINEN-M" }] });
    let before = db.statements_run();
    let body = execute(&schema, &request_data, query, representations, Viewer::Anonymous).await;
    let product = json!({ "id": id, "name": "Linen Shirt", "slug": "linen-shirt" });
    assert_eq!(
        body["data"]["_entities"],
        json!([
            { "sku": "LINEN-S", "price": { "amount": "49.00" }, "product": product },
            { "sku": "LINEN-M", "price": { "amount": "54.00" }, "product": product },
        ]),
        "{body}"
    );
    assert_eq!(db.statements_run() - before, 1, "the variants and their product come from one statement");
}
