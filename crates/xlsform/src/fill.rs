//! Fill a form with generated answers that pass its checks: for demo data and load tests.
//! Values are plainly fictional (names start with "Demo", free text says "Fictional").

use crate::check::{Instance, check};
use crate::model::{Field, FieldKind, Form, Node, Sensitivity};

/// A small deterministic generator (xorshift), so that demo data is reproducible.
#[derive(Debug, Clone)]
pub struct Seed(u64);

impl Seed {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

// Names common in Liberia and its neighbours, so that generated volumes have a realistic spread
// of namesakes (every generated name is prefixed "Demo").
pub const GIVEN: [&str; 48] = [
    "Musu",
    "Kpana",
    "Jallah",
    "Fatu",
    "Momo",
    "Siah",
    "Korto",
    "Sumo",
    "Hawa",
    "Tenneh",
    "Varney",
    "Yassah",
    "Garmai",
    "Wleh",
    "Nyumah",
    "Comfort",
    "Patience",
    "Mamie",
    "Gbessay",
    "Boima",
    "Sekou",
    "Mariama",
    "Aminata",
    "Fatmata",
    "Kebeh",
    "Satta",
    "Oretha",
    "Yah",
    "Nowai",
    "Tarnue",
    "Jestina",
    "Sonnie",
    "Dahn",
    "Miatta",
    "Josephine",
    "Emmanuel",
    "Prince",
    "Blessing",
    "Mohammed",
    "Ibrahim",
    "Alieu",
    "Abraham",
    "Esther",
    "Ruth",
    "Lorpu",
    "Kou",
    "Saye",
    "Zoegar",
];
pub const FAMILY: [&str; 48] = [
    "Kollie",
    "Flomo",
    "Kamara",
    "Sirleaf",
    "Dolo",
    "Gbowee",
    "Tarr",
    "Zinnah",
    "Kpoto",
    "Saah",
    "Johnson",
    "Doe",
    "Weah",
    "Cooper",
    "Freeman",
    "Kromah",
    "Sherif",
    "Konneh",
    "Dukuly",
    "Massaquoi",
    "Gbah",
    "Tokpah",
    "Wesseh",
    "Kiazolu",
    "Nyanti",
    "Borbor",
    "Mulbah",
    "Sackor",
    "Togba",
    "Gaye",
    "Toe",
    "Kpehe",
    "Barclay",
    "Kesselly",
    "Yarkpawolo",
    "Fallah",
    "Kanneh",
    "Bility",
    "Jalloh",
    "Sesay",
    "Conteh",
    "Bangura",
    "Koroma",
    "Diallo",
    "Traore",
    "Keita",
    "Garway",
    "Quiwonkpa",
];

fn value(field: &Field, form: &Form, seed: &mut Seed, today: time::Date, attempt: u32) -> Option<String> {
    let name = field.name.to_lowercase();
    let pick = |seed: &mut Seed, list: &[&str]| list[seed.below(list.len() as u64) as usize].to_owned();
    Some(match &field.kind {
        // Demo records carry no files.
        FieldKind::Note | FieldKind::Calculate | FieldKind::Metadata(_) | FieldKind::Media(_) => return None,
        FieldKind::Barcode => format!("DEMO{:08}", seed.below(100_000_000)),
        FieldKind::Text => {
            if name.contains("email") || name.contains("e_mail") {
                format!("demo{}@example.org", seed.below(10_000))
            } else if name.contains("name") {
                let list: &[&str] = if name.contains("given") || name.contains("first") {
                    &GIVEN
                } else {
                    &FAMILY
                };
                format!("Demo {}", pick(seed, list))
            } else if attempt % 3 == 1 || name.contains("phone") {
                // Rules on identifiers and phone numbers often want digits only.
                format!("0770{:06}", seed.below(1_000_000))
            } else if field.sensitivity == Some(Sensitivity::Identifying) {
                format!("DEMO{:06}", seed.below(1_000_000))
            } else {
                "Fictional demo text".to_owned()
            }
        }
        // Later attempts try smaller numbers: constraints are usually upper bounds or 0–100 scores.
        FieldKind::Integer => {
            let top = [60, 20, 5, 100, 2][attempt as usize % 5];
            (seed.below(top) + u64::from(attempt.is_multiple_of(2))).to_string()
        }
        FieldKind::Decimal => format!(
            "{:.2}",
            (seed.below(10_000) as f64) / [100.0, 10_000.0, 1000.0][attempt as usize % 3]
        ),
        // Some attempts use today itself: "between registration and today" may leave no other day.
        FieldKind::Date => {
            let back = match attempt {
                0 => seed.below(3 * 365) as i64 + 1,
                a if a % 3 == 2 => 0,
                // Reach further back as attempts go on: a birth date must precede other dates.
                a => seed.below(365 * u64::from(a.min(80))) as i64 + 1,
            };
            (today - time::Duration::days(back)).to_string()
        }
        FieldKind::DateTime => format!(
            "{}T10:{:02}:00Z",
            today - time::Duration::days(seed.below(365) as i64 + 1),
            seed.below(60)
        ),
        FieldKind::Time => format!("{:02}:{:02}", seed.below(24), seed.below(60)),
        // A first random choice; when a rule refuses it, walk through the list in order, so
        // that a choice another answer requires (e.g. a nationality) is reached.
        FieldKind::SelectOne { list, .. } | FieldKind::SelectMultiple { list, .. } => {
            let choices = form.choices.get(list)?;
            let index = if attempt == 0 {
                seed.below(choices.len() as u64) as usize
            } else {
                attempt as usize - 1
            };
            choices.get(index % choices.len().max(1))?.name.clone()
        }
        FieldKind::Geopoint => format!("6.{} -10.{}", 2000 + seed.below(3000), 7000 + seed.below(2000)),
        FieldKind::Acknowledge => "OK".to_owned(),
    })
}

fn fill_level(nodes: &[Node], form: &Form, seed: &mut Seed, today: time::Date, out: &mut Instance) {
    for node in nodes {
        match node {
            Node::Field(f) => {
                if let Some(v) = value(f, form, seed, today, 0) {
                    out.values.insert(f.name.clone(), v);
                }
            }
            Node::Group(g) if g.repeat => {
                let n = 1 + seed.below(2) as usize;
                let instances = (0..n)
                    .map(|_| {
                        let mut i = Instance::default();
                        fill_level(&g.children, form, seed, today, &mut i);
                        i
                    })
                    .collect();
                out.repeats.insert(g.name.clone(), instances);
            }
            Node::Group(g) => fill_level(&g.children, form, seed, today, out),
        }
    }
}

/// Set a new value at an answer path (`a`, `rep[2]/b`).
fn redo(form: &Form, instance: &mut Instance, path: &str, seed: &mut Seed, today: time::Date, attempt: u32) {
    match path.split_once('/') {
        None => {
            let Some(field) = form.field(path) else {
                instance.values.remove(path);
                return;
            };
            match value(field, form, seed, today, attempt) {
                Some(v) => instance.values.insert(path.to_owned(), v),
                None => instance.values.remove(path),
            };
        }
        Some((head, rest)) => {
            let parsed = head
                .split_once('[')
                .and_then(|(n, i)| Some((n, i.strip_suffix(']')?.parse::<usize>().ok()?)));
            if let Some((name, index)) = parsed
                && let Some(inst) = instance
                    .repeats
                    .get_mut(name)
                    .and_then(|l| l.get_mut(index.wrapping_sub(1)))
            {
                redo(form, inst, rest, seed, today, attempt);
            }
        }
    }
}

/// Generated answers that pass the form's checks, or `None` if the rules could not be met
/// within a few attempts. The result is the checked (clean) record.
pub fn fill(form: &Form, seed: &mut Seed, today: time::Date) -> Option<Instance> {
    fill_with(form, seed, today, &Instance::default())
}

/// [`fill`], starting from `preset` answers (top level) where a rule needs a combination the
/// generator would not find by itself, e.g. every consent point ticked before consent.
pub fn fill_with(form: &Form, seed: &mut Seed, today: time::Date, preset: &Instance) -> Option<Instance> {
    let language = form.default_language.clone().unwrap_or_default();
    let mut answers = Instance::default();
    fill_level(&form.children, form, seed, today, &mut answers);
    answers
        .values
        .extend(preset.values.iter().map(|(k, v)| (k.clone(), v.clone())));
    for attempt in 1..120 {
        match check(form, &answers, today, &language) {
            Ok(clean) => return Some(clean),
            Err(problems) => {
                for p in problems {
                    redo(form, &mut answers, &p.path, seed, today, attempt);
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_deterministic_and_spread() {
        let (mut a, mut b) = (Seed::new(7), Seed::new(7));
        let xs: Vec<u64> = (0..5).map(|_| a.below(100)).collect();
        assert_eq!(xs, (0..5).map(|_| b.below(100)).collect::<Vec<_>>());
        assert!(xs.iter().any(|x| *x != xs[0]));
    }
}
