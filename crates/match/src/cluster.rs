//! Clustering matched pairs into persons without chaining: two groups join only when most of
//! the pairs between them match, not through one link (A~B and B~C with A and C plainly
//! different keeps A and C apart).

use crate::model::Model;
use crate::record::Prepared;

/// Cross comparisons beyond which two groups are not joined (a true person rarely has this
/// many records; a chain of look-alikes does).
const MAX_CROSS: usize = 2_500;

struct Groups {
    parent: Vec<u32>,
    members: Vec<Vec<u32>>,
}

impl Groups {
    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let up = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = up;
            x = up;
        }
        x
    }
}

/// Assigns a group to every record: `result[i]` is the index of the first record of `i`'s
/// group. `pairs` are the matched pairs (`probability >= threshold`).
pub fn cluster(records: &[Prepared], pairs: &[(u32, u32, f64)], model: &Model, threshold: f64) -> Vec<u32> {
    let n = records.len();
    let mut groups = Groups {
        parent: (0..n as u32).collect(),
        members: (0..n as u32).map(|i| vec![i]).collect(),
    };
    let mut order: Vec<&(u32, u32, f64)> = pairs.iter().collect();
    order.sort_by(|a, b| b.2.total_cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
    for &&(i, j, _) in &order {
        let (a, b) = (groups.find(i), groups.find(j));
        if a == b {
            continue;
        }
        let (sa, sb) = (groups.members[a as usize].len(), groups.members[b as usize].len());
        if sa * sb > 1 {
            if sa * sb > MAX_CROSS {
                continue;
            }
            let mut linked = 0;
            for &x in &groups.members[a as usize] {
                for &y in &groups.members[b as usize] {
                    if model
                        .score(&records[x as usize], &records[y as usize])
                        .probability
                        >= threshold
                    {
                        linked += 1;
                    }
                }
            }
            if linked * 2 < sa * sb {
                continue;
            }
        }
        let (keep, gone) = if sa >= sb { (a, b) } else { (b, a) };
        let moved = std::mem::take(&mut groups.members[gone as usize]);
        groups.members[keep as usize].extend(moved);
        groups.parent[gone as usize] = keep;
    }
    let mut first = vec![u32::MAX; n];
    let roots: Vec<u32> = (0..n as u32).map(|i| groups.find(i)).collect();
    for (i, &root) in roots.iter().enumerate() {
        if first[root as usize] == u32::MAX {
            first[root as usize] = i as u32;
        }
    }
    roots.iter().map(|&root| first[root as usize]).collect()
}
