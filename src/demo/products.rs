//! `shop.products`: a fixed catalogue of 500 products in ten categories.
//!
//! Categories differ in price level, margin, return rate and typical quantity, and each
//! segment has its own category mix (businesses buy office supplies and electronics).

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use super::rng::{self, Weighted, between, cents, lognormal};

pub(super) struct Category {
    pub name: &'static str,
    products: usize,
    median_price: f64,
    price_sigma: f64,
    margin: (f64, f64),
    /// Probability that a line of this category comes back (before customer propensity).
    pub return_rate: f64,
    /// Multiplier on units per line (people buy coffee by the bag, monitors one at a time).
    pub qty: f64,
    nouns: &'static [&'static str],
}

pub(super) static CATEGORIES: [Category; 10] = [
    Category {
        name: "electronics",
        products: 60,
        median_price: 110.0,
        price_sigma: 0.8,
        margin: (0.55, 0.80),
        return_rate: 0.08,
        qty: 0.7,
        nouns: &[
            "Wireless Earbuds",
            "Bluetooth Speaker",
            "USB-C Charger",
            "Smartwatch",
            "Action Camera",
            "Mechanical Keyboard",
            "Gaming Mouse",
            "4K Monitor",
            "Power Bank",
            "Noise-Cancelling Headphones",
            "Tablet Stand",
            "Webcam",
        ],
    },
    Category {
        name: "apparel",
        products: 80,
        median_price: 38.0,
        price_sigma: 0.5,
        margin: (0.35, 0.60),
        return_rate: 0.15,
        qty: 1.0,
        nouns: &[
            "Cotton T-Shirt",
            "Denim Jacket",
            "Running Shorts",
            "Wool Sweater",
            "Rain Jacket",
            "Chino Trousers",
            "Linen Shirt",
            "Hoodie",
            "Leather Belt",
            "Sneakers",
            "Ankle Boots",
            "Baseball Cap",
        ],
    },
    Category {
        name: "home",
        products: 60,
        median_price: 45.0,
        price_sigma: 0.6,
        margin: (0.40, 0.65),
        return_rate: 0.06,
        qty: 1.0,
        nouns: &[
            "Ceramic Mug Set",
            "Throw Blanket",
            "Desk Lamp",
            "Cast Iron Skillet",
            "Chef Knife",
            "Bath Towel Set",
            "Scented Candle",
            "Storage Basket",
            "Wall Clock",
            "Cushion Cover",
            "French Press",
            "Cutting Board",
        ],
    },
    Category {
        name: "beauty",
        products: 50,
        median_price: 19.0,
        price_sigma: 0.45,
        margin: (0.30, 0.50),
        return_rate: 0.03,
        qty: 1.4,
        nouns: &[
            "Face Serum",
            "Hand Cream",
            "Shampoo",
            "Lip Balm",
            "Sunscreen SPF50",
            "Body Lotion",
            "Hair Oil",
            "Clay Mask",
            "Eye Cream",
            "Bath Salts",
        ],
    },
    Category {
        name: "sports",
        products: 50,
        median_price: 55.0,
        price_sigma: 0.7,
        margin: (0.45, 0.65),
        return_rate: 0.07,
        qty: 1.0,
        nouns: &[
            "Yoga Mat",
            "Resistance Bands",
            "Water Bottle",
            "Dumbbell Pair",
            "Cycling Gloves",
            "Jump Rope",
            "Foam Roller",
            "Tennis Racket",
            "Hiking Backpack",
            "Swim Goggles",
        ],
    },
    Category {
        name: "books",
        products: 50,
        median_price: 16.0,
        price_sigma: 0.35,
        margin: (0.55, 0.75),
        return_rate: 0.02,
        qty: 1.0,
        nouns: &[
            "Cookbook",
            "Travel Guide",
            "Thriller Novel",
            "Sci-Fi Novel",
            "Business Handbook",
            "Picture Book",
            "Poetry Collection",
            "History Atlas",
            "Data Science Primer",
            "Graphic Novel",
        ],
    },
    Category {
        name: "toys",
        products: 40,
        median_price: 26.0,
        price_sigma: 0.55,
        margin: (0.45, 0.65),
        return_rate: 0.05,
        qty: 1.1,
        nouns: &[
            "Building Blocks",
            "Jigsaw Puzzle",
            "Plush Bear",
            "Board Game",
            "Remote Control Car",
            "Art Kit",
            "Wooden Train Set",
            "Card Game",
        ],
    },
    Category {
        name: "grocery",
        products: 40,
        median_price: 9.0,
        price_sigma: 0.45,
        margin: (0.70, 0.85),
        return_rate: 0.01,
        qty: 2.2,
        nouns: &[
            "Coffee Beans",
            "Green Tea",
            "Olive Oil",
            "Dark Chocolate",
            "Granola",
            "Honey Jar",
            "Pasta Pack",
            "Spice Set",
        ],
    },
    Category {
        name: "office",
        products: 40,
        median_price: 24.0,
        price_sigma: 0.7,
        margin: (0.50, 0.70),
        return_rate: 0.03,
        qty: 2.0,
        nouns: &[
            "Notebook A5",
            "Gel Pens",
            "Desk Organizer",
            "Printer Paper",
            "Stapler",
            "Ergonomic Chair",
            "Whiteboard",
            "Label Maker",
        ],
    },
    Category {
        name: "garden",
        products: 30,
        median_price: 42.0,
        price_sigma: 0.6,
        margin: (0.45, 0.65),
        return_rate: 0.04,
        qty: 1.0,
        nouns: &[
            "Pruning Shears",
            "Garden Hose",
            "Plant Pot",
            "Seed Kit",
            "Watering Can",
            "Solar Lights",
            "Bird Feeder",
            "Gardening Gloves",
        ],
    },
];

/// Category mix per segment, in `CATEGORIES` order (consumer, smb, enterprise).
const SEGMENT_MIX: [[f64; 10]; 3] = [
    [0.14, 0.20, 0.13, 0.11, 0.10, 0.08, 0.08, 0.08, 0.04, 0.04],
    [0.20, 0.05, 0.08, 0.03, 0.03, 0.04, 0.02, 0.15, 0.35, 0.05],
    [0.35, 0.03, 0.05, 0.01, 0.02, 0.04, 0.01, 0.09, 0.38, 0.02],
];

static BRANDS: [&str; 12] = [
    "Northwind",
    "Aurora",
    "Summit",
    "Bluefin",
    "Oakridge",
    "Vertex",
    "Lumen",
    "Harbor",
    "Pinecrest",
    "Zephyr",
    "Copperline",
    "Nimbus",
];

pub(super) struct Product {
    pub id: i64,
    pub name: String,
    pub category: usize,
    pub price: f64,
    pub cost: f64,
}

/// The products plus the samplers orders use to pick from them.
pub(super) struct Catalog {
    pub products: Vec<Product>,
    /// Per category: product indices and their (Zipf-like) popularity.
    by_category: Vec<(Vec<usize>, Weighted)>,
    by_segment: Vec<Weighted>,
}

impl Catalog {
    pub(super) fn generate(seed: u64) -> Self {
        let mut rng = rng::stream(seed, rng::PRODUCTS, 0);
        let mut products = Vec::new();
        let mut by_category = Vec::new();
        for (c, cat) in CATEGORIES.iter().enumerate() {
            // Distinct brand × noun pairs in a seeded order give unique, plausible names.
            let mut pairs: Vec<usize> = (0..BRANDS.len() * cat.nouns.len()).collect();
            for i in (1..pairs.len()).rev() {
                pairs.swap(i, (between(&mut rng, 0.0, (i + 1) as f64) as usize).min(i));
            }
            let first = products.len();
            for &pair in pairs.iter().cycle().take(cat.products) {
                let (brand, noun) = (BRANDS[pair % BRANDS.len()], cat.nouns[pair / BRANDS.len()]);
                let raw = lognormal(&mut rng, cat.median_price.ln(), cat.price_sigma).max(1.0);
                let price = raw.floor() + 0.99; // charm pricing
                let cost = cents(price * between(&mut rng, cat.margin.0, cat.margin.1));
                let id = products.len() as i64 + 1;
                products.push(Product {
                    id,
                    name: format!("{brand} {noun}"),
                    category: c,
                    price,
                    cost,
                });
            }
            // Popularity falls off with rank; rank order is the (already shuffled) id order.
            let members: Vec<usize> = (first..products.len()).collect();
            let popularity =
                Weighted::new((0..members.len()).map(|r| 1.0 / (r as f64 + 1.0).powf(0.9)));
            by_category.push((members, popularity));
        }
        let by_segment = SEGMENT_MIX
            .iter()
            .map(|mix| Weighted::new(mix.iter().copied()))
            .collect();
        Self {
            products,
            by_category,
            by_segment,
        }
    }

    /// Index into `products` of a product a customer of segment `segment` (index) buys.
    pub(super) fn pick(&self, segment: usize, rng: &mut impl rand::Rng) -> usize {
        let category = self.by_segment[segment].sample(rng);
        let (members, popularity) = &self.by_category[category];
        members[popularity.sample(rng)]
    }
}

pub(super) fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("product_id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("category", DataType::Utf8, false),
        Field::new("unit_price", DataType::Float64, false),
        Field::new("unit_cost", DataType::Float64, false),
    ]))
}

pub(super) fn to_batch(rows: &[Product]) -> Result<RecordBatch, ArrowError> {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|p| p.id))),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|p| p.name.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|p| CATEGORIES[p.category].name),
            )),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|p| p.price))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|p| p.cost))),
        ],
    )
}
