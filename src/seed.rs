//! The demo catalog: realistic products, prices, stock (some sold out) and
//! reviews, generated deterministically so every fresh machine sees the same shop.

use kit::db::Db;
use kit::domain::Rating;
use kit::money::{CurrencyCode, Money};
use products::{NewProduct, NewVariant};
use reviews::NewReview;

/// The size of the catalog `cargo run` starts with.
pub const DEMO_PRODUCTS: usize = 240;

struct CategorySpec {
    slug: &'static str,
    name: &'static str,
    nouns: &'static [&'static str],
    materials: &'static [&'static str],
    options: &'static [&'static str],
    /// Base price in cents of the cheapest item.
    base_price: i64,
    pitch: &'static str,
}

const CATEGORIES: &[CategorySpec] = &[
    CategorySpec {
        slug: "footwear",
        name: "Footwear",
        nouns: &["Trail Runner", "Court Sneaker", "Chelsea Boot", "Loafer", "Hiking Boot", "Slip-On"],
        materials: &["Suede", "Leather", "Canvas", "Knit", "Waxed"],
        options: &["EU 39", "EU 41", "EU 43", "EU 45"],
        base_price: 6900,
        pitch: "Cushioned footbed, grippy rubber outsole and a last shaped for all-day wear.",
    },
    CategorySpec {
        slug: "outerwear",
        name: "Outerwear",
        nouns: &["Parka", "Rain Shell", "Puffer Jacket", "Field Coat", "Fleece", "Overshirt"],
        materials: &["Recycled", "Merino", "Ripstop", "Down", "Wool"],
        options: &["S", "M", "L", "XL"],
        base_price: 8900,
        pitch: "Windproof, water-resistant and cut long enough to layer over a sweater.",
    },
    CategorySpec {
        slug: "kitchen",
        name: "Kitchen",
        nouns: &["Chef's Knife", "Skillet", "Dutch Oven", "Cutting Board", "Saucepan", "Mixing Bowl Set"],
        materials: &["Carbon Steel", "Cast Iron", "Walnut", "Stainless", "Enamelled"],
        options: &["Small", "Medium", "Large"],
        base_price: 2900,
        pitch: "Made to last a lifetime of weeknight dinners, and easy to care for.",
    },
    CategorySpec {
        slug: "coffee-tea",
        name: "Coffee & Tea",
        nouns: &["Pour-Over Set", "Burr Grinder", "French Press", "Tea Kettle", "Espresso Cups", "Coffee Beans"],
        materials: &["Ceramic", "Glass", "Copper", "Single-Origin", "Stoneware"],
        options: &["250 g", "500 g", "1 kg"],
        base_price: 1500,
        pitch: "For slow mornings: a better cup with less fuss.",
    },
    CategorySpec {
        slug: "audio",
        name: "Audio",
        nouns: &["Headphones", "Bookshelf Speaker", "Earbuds", "Turntable", "Soundbar", "Radio"],
        materials: &["Wireless", "Studio", "Noise-Cancelling", "Portable", "Walnut"],
        options: &["Black", "Sand", "Forest"],
        base_price: 4900,
        pitch: "Balanced, detailed sound with controls that stay out of the way.",
    },
    CategorySpec {
        slug: "outdoor",
        name: "Outdoor",
        nouns: &["Tent", "Sleeping Bag", "Camp Stove", "Headlamp", "Trekking Poles", "Daypack"],
        materials: &["Ultralight", "Four-Season", "Packable", "Alpine", "Weatherproof"],
        options: &["1 person", "2 person", "3 person"],
        base_price: 3900,
        pitch: "Tested on long weekends in the hills; packs down small and sets up fast.",
    },
    CategorySpec {
        slug: "home-office",
        name: "Home Office",
        nouns: &["Desk Lamp", "Standing Desk", "Monitor Stand", "Notebook", "Desk Mat", "Task Chair"],
        materials: &["Oak", "Aluminium", "Felt", "Linen", "Bamboo"],
        options: &["Natural", "Charcoal", "White"],
        base_price: 2400,
        pitch: "Keeps the desk calm and the work flowing, from first coffee to last call.",
    },
    CategorySpec {
        slug: "bags-travel",
        name: "Bags & Travel",
        nouns: &["Weekender", "Backpack", "Carry-On", "Tote", "Sling Bag", "Packing Cubes"],
        materials: &["Waxed Canvas", "Nylon", "Leather", "Recycled", "Cordura"],
        options: &["20 L", "30 L", "40 L"],
        base_price: 3500,
        pitch: "Thoughtful pockets, tough zips and a shape that fits overhead bins.",
    },
    CategorySpec {
        slug: "fitness",
        name: "Fitness",
        nouns: &["Yoga Mat", "Kettlebell", "Resistance Bands", "Jump Rope", "Foam Roller", "Dumbbell Pair"],
        materials: &["Cork", "Cast Iron", "Natural Rubber", "Weighted", "Recycled"],
        options: &["Light", "Medium", "Heavy"],
        base_price: 1900,
        pitch: "Simple, sturdy kit for training at home, in the park or on the road.",
    },
    CategorySpec {
        slug: "bedding",
        name: "Bedding",
        nouns: &["Duvet Cover", "Sheet Set", "Pillow", "Throw Blanket", "Quilt", "Mattress Topper"],
        materials: &["Linen", "Percale", "Sateen", "Flannel", "Organic Cotton"],
        options: &["Single", "Double", "King"],
        base_price: 3900,
        pitch: "Breathable, soft from the first night, and better with every wash.",
    },
];

const ADJECTIVES: &[&str] = &["Classic", "Everyday", "Heritage", "Nordic", "Summit", "Coastal", "Urban", "Atlas"];

const REVIEWERS: &[&str] = &["Ana", "Ben", "Chloé", "Dev", "Emeka", "Freya", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lena"];

const REVIEW_TEXTS: &[(i64, &str, &str)] = &[
    (5, "Exactly what I hoped for", "Well made, arrived quickly and looks even better in person."),
    (5, "Worth every penny", "I have used it daily for a month and it still feels new."),
    (4, "Very good", "Great quality. Runs slightly large, so consider sizing down."),
    (4, "Happy with it", "Does the job nicely; the finish could be a touch better."),
    (3, "It's fine", "Decent for the price, but not as sturdy as I expected."),
    (2, "Disappointing", "The colour was different from the photos and it scuffs easily."),
    (1, "Returned it", "Broke within a week. Customer service sorted the refund quickly though."),
];

/// A small deterministic generator: the same catalog on every machine.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

pub struct Catalog {
    pub products: Vec<NewProduct>,
    pub stock: Vec<(String, i64)>,
    pub reviews: Vec<SeedReview>,
}

pub struct SeedReview {
    pub product_slug: String,
    pub customer_id: String,
    pub author_name: String,
    pub rating: i64,
    pub title: String,
    pub body: String,
}

/// Builds `count` products spread over the categories.
pub fn demo_catalog(count: usize) -> Catalog {
    let mut dice = Dice(2026);
    let mut catalog = Catalog { products: Vec::new(), stock: Vec::new(), reviews: Vec::new() };
    let mut index = 0usize;
    while catalog.products.len() < count {
        let category = &CATEGORIES[index % CATEGORIES.len()];
        let round = index / CATEGORIES.len();
        let noun = category.nouns[round % category.nouns.len()];
        let material = category.materials[(round / category.nouns.len()) % category.materials.len()];
        let adjective = ADJECTIVES[(round / (category.nouns.len() * category.materials.len())) % ADJECTIVES.len()];
        let edition = round / (category.nouns.len() * category.materials.len() * ADJECTIVES.len());
        let mut name = format!("{adjective} {material} {noun}");
        if edition > 0 {
            name.push_str(&format!(" Mk {}", edition + 1));
        }
        let slug = slugify(&name);
        let variant_count = 1 + dice.roll(4) as usize;
        let base = category.base_price + dice.roll(40) as i64 * 250 + 99 - 100;
        let variants: Vec<NewVariant> = category
            .options
            .iter()
            .take(variant_count)
            .enumerate()
            .map(|(i, option)| NewVariant {
                sku: format!("{}-{}", slug, slugify(option)).to_uppercase(),
                name: option.to_string(),
                price: Money::new(base + i as i64 * 500, CurrencyCode::USD),
            })
            .collect();
        for variant in &variants {
            let sold_out = dice.roll(12) == 0;
            catalog.stock.push((variant.sku.clone(), if sold_out { 0 } else { 5 + dice.roll(120) as i64 }));
        }
        let review_count = if dice.roll(10) < 6 { 1 + dice.roll(6) as usize } else { 0 };
        for r in 0..review_count {
            let (rating, title, body) = REVIEW_TEXTS[dice.roll(REVIEW_TEXTS.len() as u64) as usize];
            catalog.reviews.push(SeedReview {
                product_slug: slug.clone(),
                customer_id: format!("seed-customer-{r}"),
                author_name: REVIEWERS[dice.roll(REVIEWERS.len() as u64) as usize].to_string(),
                rating,
                title: title.to_string(),
                body: body.to_string(),
            });
        }
        catalog.products.push(NewProduct {
            id: kit::db::new_id(),
            slug,
            description: format!("The {name} in {}. {}", material.to_lowercase(), category.pitch),
            name,
            category_slug: category.slug.to_string(),
            category_name: category.name.to_string(),
            variants,
        });
        index += 1;
    }
    catalog
}

fn slugify(text: &str) -> String {
    let mut slug = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches('-').to_string()
}

/// The databases a catalog lands in: each subgraph keeps its own part.
pub struct SeedTargets<'a> {
    pub products: &'a Db,
    pub inventory: &'a Db,
    pub reviews: &'a Db,
}

/// Seeds `count` products unless the catalog has products already.
/// Returns how many products were added.
pub async fn seed(targets: &SeedTargets<'_>, count: usize) -> anyhow::Result<usize> {
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM products").fetch_one(targets.products).await?;
    if existing > 0 {
        return Ok(0);
    }
    let catalog = demo_catalog(count);
    let inserted = products::insert_catalog(targets.products, &catalog.products).await?;
    inventory::set_on_hand(targets.inventory, &catalog.stock).await?;
    for review in &catalog.reviews {
        let product = catalog.products.iter().find(|p| p.slug == review.product_slug).expect("review of a generated product");
        reviews::insert_review(
            targets.reviews,
            &NewReview {
                product_id: &product.id,
                customer_id: &review.customer_id,
                author_name: &review.author_name,
                rating: Rating::parse("rating", review.rating).map_err(|e| anyhow::anyhow!(e.message))?,
                title: Some(&review.title),
                body: &review.body,
            },
        )
        .await?;
    }
    Ok(inserted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_catalog_is_large_varied_and_unique() {
        let catalog = demo_catalog(DEMO_PRODUCTS);
        assert_eq!(catalog.products.len(), DEMO_PRODUCTS);
        let slugs: std::collections::HashSet<_> = catalog.products.iter().map(|p| &p.slug).collect();
        assert_eq!(slugs.len(), DEMO_PRODUCTS, "slugs are unique");
        let categories: std::collections::HashSet<_> = catalog.products.iter().map(|p| &p.category_slug).collect();
        assert!(categories.len() >= 8);
        assert!(catalog.products.iter().all(|p| (1..=4).contains(&p.variants.len())));
        assert!(catalog.stock.iter().any(|(_, on_hand)| *on_hand == 0), "some variants are sold out");
        let reviewed: std::collections::HashSet<_> = catalog.reviews.iter().map(|r| &r.product_slug).collect();
        assert!(reviewed.len() > DEMO_PRODUCTS / 3, "many products have reviews");
    }
}
