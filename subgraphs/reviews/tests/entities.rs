//! The entity reviews extends, resolved the way the router asks for it.
//! Reviews are public: a stranger and a signed-in customer get the same answer.

use kit::auth::Viewer;
use kit::graph::GraphClient;
use kit::testing::{customer, execute, memory_db};
use reviews::NewReview;
use serde_json::json;

#[tokio::test]
async fn product_gets_its_rating_and_reviews() {
    let db = memory_db(vec![events::migrator(), reviews::migrator()]).await;
    for (customer, rating) in [("c1", 5), ("c2", 4)] {
        let review = NewReview { product_id: "p1", customer_id: customer, author_name: "Ana", rating: kit::domain::Rating::parse("rating", rating).unwrap(), title: None, body: "Good." };
        reviews::insert_review(&db, &review).await.unwrap();
    }
    let schema = reviews::schema(db.clone(), GraphClient::new("http://127.0.0.1:9/unused", None));
    let request_data = reviews::request_data(&db);
    let query = "query ($r: [_Any!]!) { _entities(representations: $r) { ... on Product { id rating { average count } reviews(first: 1) { totalCount pageInfo { hasNextPage } edges { node { rating } } } } } }";
    let representations = json!({ "r": [{ "__typename": "Product", "id": "p1" }, { "__typename": "Product", "id": "p2" }] });
    let body = execute(&schema, &request_data, query, representations.clone(), Viewer::Anonymous).await;
    assert_eq!(body, execute(&schema, &request_data, query, representations, customer("c9")).await, "the same for anyone");
    let entities = &body["data"]["_entities"];
    assert_eq!(entities[0]["rating"], json!({ "average": 4.5, "count": 2 }), "{body}");
    assert_eq!(entities[0]["reviews"]["totalCount"], 2);
    assert_eq!(entities[0]["reviews"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(entities[1]["rating"], json!({ "average": null, "count": 0 }));
}
