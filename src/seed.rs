//! The demo catalog: realistic products, prices, stock (some sold out) and
//! reviews, generated deterministically so every fresh machine sees the same shop.

use kit::db::Db;
use kit::domain::Rating;
use kit::money::{CurrencyCode, Money};
use products::{NewCategory, NewImage, NewProduct, NewVariant};
use reviews::NewReview;

/// The size of the catalog `cargo run` starts with.
pub const DEMO_PRODUCTS: usize = 240;

struct CategorySpec {
    slug: &'static str,
    name: &'static str,
    /// The department it sits under (TOP_CATEGORIES).
    parent: &'static str,
    nouns: &'static [&'static str],
    materials: &'static [&'static str],
    /// The first option axis and its values.
    option: &'static str,
    options: &'static [&'static str],
    /// A second axis, Color, where the category has one.
    colors: &'static [&'static str],
    /// Base price in cents of the cheapest item.
    base_price: i64,
    pitch: &'static str,
}

const CATEGORIES: &[CategorySpec] = &[
    CategorySpec {
        slug: "footwear",
        name: "Footwear",
        parent: "apparel",
        nouns: &["Trail Runner", "Court Sneaker", "Chelsea Boot", "Loafer", "Hiking Boot", "Slip-On"],
        materials: &["Suede", "Leather", "Canvas", "Knit", "Waxed"],
        option: "Size",
        options: &["EU 39", "EU 41", "EU 43", "EU 45"],
        colors: &["Black", "Tan"],
        base_price: 6900,
        pitch: "Cushioned footbed, grippy rubber outsole and a last shaped for all-day wear.",
    },
    CategorySpec {
        slug: "outerwear",
        name: "Outerwear",
        parent: "apparel",
        nouns: &["Parka", "Rain Shell", "Puffer Jacket", "Field Coat", "Fleece", "Overshirt"],
        materials: &["Recycled", "Merino", "Ripstop", "Down", "Wool"],
        option: "Size",
        options: &["S", "M", "L", "XL"],
        colors: &["Navy", "Olive"],
        base_price: 8900,
        pitch: "Windproof, water-resistant and cut long enough to layer over a sweater.",
    },
    CategorySpec {
        slug: "kitchen",
        name: "Kitchen",
        parent: "home",
        nouns: &["Chef's Knife", "Skillet", "Dutch Oven", "Cutting Board", "Saucepan", "Mixing Bowl Set"],
        materials: &["Carbon Steel", "Cast Iron", "Walnut", "Stainless", "Enamelled"],
        option: "Size",
        options: &["Small", "Medium", "Large"],
        colors: &[],
        base_price: 2900,
        pitch: "Made to last a lifetime of weeknight dinners, and easy to care for.",
    },
    CategorySpec {
        slug: "coffee-tea",
        name: "Coffee & Tea",
        parent: "home",
        nouns: &["Pour-Over Set", "Burr Grinder", "French Press", "Tea Kettle", "Espresso Cups", "Coffee Beans"],
        materials: &["Ceramic", "Glass", "Copper", "Single-Origin", "Stoneware"],
        option: "Weight",
        options: &["250 g", "500 g", "1 kg"],
        colors: &[],
        base_price: 1500,
        pitch: "For slow mornings: a better cup with less fuss.",
    },
    CategorySpec {
        slug: "audio",
        name: "Audio",
        parent: "electronics",
        nouns: &["Headphones", "Bookshelf Speaker", "Earbuds", "Turntable", "Soundbar", "Radio"],
        materials: &["Wireless", "Studio", "Noise-Cancelling", "Portable", "Walnut"],
        option: "Color",
        options: &["Black", "Sand", "Forest"],
        colors: &[],
        base_price: 4900,
        pitch: "Balanced, detailed sound with controls that stay out of the way.",
    },
    CategorySpec {
        slug: "outdoor",
        name: "Outdoor",
        parent: "sports-outdoors",
        nouns: &["Tent", "Sleeping Bag", "Camp Stove", "Headlamp", "Trekking Poles", "Daypack"],
        materials: &["Ultralight", "Four-Season", "Packable", "Alpine", "Weatherproof"],
        option: "Capacity",
        options: &["1 person", "2 person", "3 person"],
        colors: &[],
        base_price: 3900,
        pitch: "Tested on long weekends in the hills; packs down small and sets up fast.",
    },
    CategorySpec {
        slug: "home-office",
        name: "Home Office",
        parent: "home",
        nouns: &["Desk Lamp", "Standing Desk", "Monitor Stand", "Notebook", "Desk Mat", "Task Chair"],
        materials: &["Oak", "Aluminium", "Felt", "Linen", "Bamboo"],
        option: "Finish",
        options: &["Natural", "Charcoal", "White"],
        colors: &[],
        base_price: 2400,
        pitch: "Keeps the desk calm and the work flowing, from first coffee to last call.",
    },
    CategorySpec {
        slug: "bags-travel",
        name: "Bags & Travel",
        parent: "sports-outdoors",
        nouns: &["Weekender", "Backpack", "Carry-On", "Tote", "Sling Bag", "Packing Cubes"],
        materials: &["Waxed Canvas", "Nylon", "Leather", "Recycled", "Cordura"],
        option: "Volume",
        options: &["20 L", "30 L", "40 L"],
        colors: &[],
        base_price: 3500,
        pitch: "Thoughtful pockets, tough zips and a shape that fits overhead bins.",
    },
    CategorySpec {
        slug: "fitness",
        name: "Fitness",
        parent: "sports-outdoors",
        nouns: &["Yoga Mat", "Kettlebell", "Resistance Bands", "Jump Rope", "Foam Roller", "Dumbbell Pair"],
        materials: &["Cork", "Cast Iron", "Natural Rubber", "Weighted", "Recycled"],
        option: "Weight",
        options: &["Light", "Medium", "Heavy"],
        colors: &[],
        base_price: 1900,
        pitch: "Simple, sturdy kit for training at home, in the park or on the road.",
    },
    CategorySpec {
        slug: "bedding",
        name: "Bedding",
        parent: "home",
        nouns: &["Duvet Cover", "Sheet Set", "Pillow", "Throw Blanket", "Quilt", "Mattress Topper"],
        materials: &["Linen", "Percale", "Sateen", "Flannel", "Organic Cotton"],
        option: "Size",
        options: &["Single", "Double", "King"],
        colors: &[],
        base_price: 3900,
        pitch: "Breathable, soft from the first night, and better with every wash.",
    },
];

/// The departments at the top of the category tree: (slug, name).
const TOP_CATEGORIES: &[(&str, &str)] = &[("apparel", "Apparel"), ("electronics", "Electronics"), ("home", "Home"), ("sports-outdoors", "Sports & Outdoors")];

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
    pub categories: Vec<NewCategory>,
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
    let departments = TOP_CATEGORIES.iter().map(|(slug, name)| NewCategory { slug: slug.to_string(), name: name.to_string(), parent_slug: None });
    let categories = CATEGORIES.iter().map(|c| NewCategory { slug: c.slug.to_string(), name: c.name.to_string(), parent_slug: Some(c.parent.to_string()) });
    let mut catalog = Catalog { categories: departments.chain(categories).collect(), products: Vec::new(), stock: Vec::new(), reviews: Vec::new() };
    // The demo shop opened at the start of 2026 and added a product an hour.
    let opened = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").expect("a date").with_timezone(&chrono::Utc);
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
        let variants: Vec<NewVariant> = option_values(category)
            .into_iter()
            .take(variant_count)
            .enumerate()
            .map(|(i, values)| NewVariant {
                sku: format!("{}-{}", slug, slugify(&values.iter().map(|(_, value)| *value).collect::<Vec<_>>().join(" "))).to_uppercase(),
                name: values.iter().map(|(_, value)| *value).collect::<Vec<_>>().join(" / "),
                price: Money::new(base + i as i64 * 500, CurrencyCode::USD),
                options: values.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect(),
            })
            .collect();
        let mut images: Vec<NewImage> = ["1", "2"]
            .iter()
            .map(|view| NewImage { path: format!("products/{slug}/{view}.svg"), alt_text: format!("{name}, view {view}"), width: 800, height: 800, variant_sku: None })
            .collect();
        // A variant that differs by colour is shown in its colour.
        for variant in &variants {
            if let Some((_, color)) = variant.options.iter().find(|(axis, _)| axis == "Color") {
                let path = format!("products/{slug}/{}.svg", slugify(color));
                if !images.iter().any(|image| image.path == path) {
                    images.push(NewImage { path, alt_text: format!("{name} in {color}"), width: 800, height: 800, variant_sku: Some(variant.sku.clone()) });
                }
            }
        }
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
            created_at: kit::db::timestamp(opened + chrono::Duration::hours(index as i64)),
            variants,
            images,
        });
        index += 1;
    }
    catalog
}

/// The option values of a category's variants, in order: every value of
/// its first axis, each in every colour when it has colours.
fn option_values(category: &CategorySpec) -> Vec<Vec<(&'static str, &'static str)>> {
    let first = category.options.iter().map(|value| vec![(category.option, *value)]);
    if category.colors.is_empty() {
        return first.collect();
    }
    first.flat_map(|values| category.colors.iter().map(move |color| [values.clone(), vec![("Color", *color)]].concat())).collect()
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
    let inserted = products::insert_catalog(targets.products, &catalog.categories, &catalog.products).await?;
    inventory::set_on_hand(targets.inventory, &catalog.stock).await?;
    products::set_availability(targets.products, &catalog.stock).await?;
    let ids: std::collections::HashMap<&str, &str> = catalog.products.iter().map(|p| (p.slug.as_str(), p.id.as_str())).collect();
    let reviews = catalog
        .reviews
        .iter()
        .map(|review| {
            Ok(NewReview {
                product_id: ids[review.product_slug.as_str()],
                customer_id: &review.customer_id,
                author_name: &review.author_name,
                rating: Rating::parse("rating", review.rating).map_err(|e| anyhow::anyhow!(e.message))?,
                title: Some(&review.title),
                body: &review.body,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    reviews::insert_reviews(targets.reviews, &reviews).await?;
    Ok(inserted as usize)
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
