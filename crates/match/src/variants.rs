//! Common given-name and surname variants seen in Liberia and the region: Arabic names as
//! written in English, French and local usage, Mandingo/Vai forms, and a few Liberian surnames
//! spelled several ways. Each group's first spelling is its canonical form. The list is
//! deliberately short and conservative: a wrong group merges different people, a missing one
//! only costs the comparison a level (the fuzzy and phonetic levels still apply).

use std::collections::HashMap;
use std::sync::LazyLock;

const GROUPS: &[&[&str]] = &[
    &[
        "muhammad",
        "mohammed",
        "mohamed",
        "mohammad",
        "muhammed",
        "mohamad",
        "muhamed",
        "mohamud",
        "mamadou",
        "mamadu",
        "mamady",
        "mamadi",
        "mamadee",
        "momodu",
        "momoh",
        "mamoud",
        "mahamadou",
        "mouhamed",
        "mouhamadou",
        "mohamedou",
        "medo",
    ],
    &["ahmad", "ahmed", "ahmet", "amadou", "amadu", "ahmadu", "hamadou"],
    &["mahmud", "mahmoud", "mahmood", "mamoudou"],
    &["umar", "omar", "oumar", "omer", "umaru", "oumarou", "omaru"],
    &[
        "uthman", "usman", "ousmane", "osman", "othman", "usmane", "ousman", "osmane", "usumanu", "sumana",
    ],
    &[
        "ibrahim", "ibrahima", "ebrahim", "brahim", "ibrahimu", "brahima", "brima",
    ],
    &[
        "abubakar",
        "aboubakar",
        "abubakr",
        "aboubacar",
        "boubacar",
        "bubakar",
        "abubakarr",
        "bakary",
        "bakari",
        "boubakar",
        "bakr",
        "bakar",
    ],
    &[
        "abdullah",
        "abdallah",
        "abdoulaye",
        "abdullahi",
        "abdulai",
        "abdalla",
        "abdulla",
        "abdallahi",
        "abdoulahi",
        "abdulahi",
    ],
    &[
        "abdulrahman",
        "abdourahmane",
        "abderrahmane",
        "abdurrahman",
        "abdelrahman",
        "abdulrahmane",
        "abdurahman",
    ],
    &["abdulkarim", "abdoulkarim", "abdelkarim", "abdulkareem"],
    &["abdulaziz", "abdelaziz", "abdoulaziz"],
    &[
        "abdulqadir",
        "abdelkader",
        "abdoulkader",
        "abdulkadir",
        "abdoulkadri",
        "abdulkadri",
    ],
    &[
        "yusuf", "youssef", "yousef", "yusif", "yousouf", "youssouf", "yussif", "yusufu",
    ],
    &["musa", "moussa", "mousa", "mussa"],
    &["isa", "issa", "eissa", "aissa"],
    &[
        "sulayman",
        "suleiman",
        "sulaiman",
        "souleymane",
        "suleyman",
        "soulemane",
        "sulemana",
        "sulaymane",
        "soliman",
    ],
    &["ismail", "ismael", "ismaila", "smail"],
    &["idris", "idrissa", "driss", "idriss"],
    &["khalid", "khaled", "khalidou"],
    &["hasan", "hassan", "hassane", "hasane"],
    &[
        "husayn",
        "hussein",
        "husein",
        "hussain",
        "houssein",
        "housseini",
        "hosseini",
    ],
    &["ali", "aliyu", "aly", "alieu", "alie", "alieau"],
    &["yahya", "yahaya", "yaya", "yahia"],
    &["mustafa", "moustapha", "mustapha", "mostafa", "moustafa"],
    &["said", "saeed", "saed", "seyd", "saidu", "seydou", "saidou"],
    &["salih", "saleh", "salah", "salifu", "salif"],
    &["idi", "iddi"],
    &["jibril", "jibrin", "djibril"],
    &["dawud", "daoud", "dawood", "daouda", "dauda"],
    &["harun", "haroun", "haruna", "harouna"],
    &["mansur", "mansour", "mansaray", "mansare"],
    &["karim", "kareem", "kerim"],
    &["lamin", "lamine", "alamin", "amin", "alamine"],
    &["sekou", "sekuba", "sekouba", "seku"],
    &[
        "fatima",
        "fatimah",
        "fatoumata",
        "fatumata",
        "fatmata",
        "fatuma",
        "fatu",
        "fatou",
        "fanta",
        "fatma",
    ],
    &[
        "aisha", "aicha", "aissatou", "aishatu", "aysha", "ayesha", "aissata", "aisatu",
    ],
    &[
        "maryam", "mariam", "mariama", "mariame", "mariamu", "mariatu", "mariatou",
    ],
    &[
        "amina", "aminata", "aminatu", "ameenah", "aminah", "mina", "minata",
    ],
    &[
        "khadija",
        "khadidja",
        "kadiatou",
        "kadija",
        "khadijatou",
        "kadiatu",
        "hadja",
        "hadijatou",
    ],
    &["zaynab", "zainab", "zeinab", "zenab", "zeynab"],
    &["halima", "halimatou", "halimah", "alima"],
    &["hawa", "hawah", "awa", "hauwa"],
    &["kadie", "kadi", "kady"],
    &["ruqayya", "rokia", "rokiatou", "rukaya", "rougui"],
    &["nabintu", "nabintou"],
    &["usama", "osama", "oussama", "ousama", "usamah"],
    &["nasir", "nasser", "naser", "nassir", "nacer"],
    &["salah", "salaheddine", "salahuddin"],
    &["iman", "imane", "eman"],
    &["amira", "amirah", "ameera"],
    &["isra", "israa", "esraa"],
    &["asma", "asmaa", "asmah"],
    &["muhannad", "mohannad", "mouhanad"],
    &["yasir", "yasser", "yaser"],
    &["walid", "waleed", "oualid"],
    &["ayman", "aymen", "aimen"],
    &["hisham", "hicham", "hesham"],
    &["john", "johnny", "jon"],
    &["joseph", "josef", "yusef"],
    &["emmanuel", "emanuel", "emmanual"],
    &["james", "jim", "jimmy"],
    &["william", "bill", "willie"],
    &["elizabeth", "liz", "beth", "eliza"],
    &["kollie", "kolie", "kolleh", "kollieh", "koli", "kolli"],
    &["kpoto", "kporto", "kpotoh"],
    &["kamara", "kamarah", "camara"],
    &["konneh", "koneh", "kone", "konne"],
    &["sherif", "sheriff", "sharif", "cherif", "sheriffe"],
    &["toure", "touray", "turay"],
    &["cisse", "sisay", "sissay", "sesay", "sisse"],
    &["diallo", "jallow", "jalloh", "djallo", "diallou"],
    &["keita", "keyta", "kayta"],
    &["traore", "trawally", "trawale"],
    &["kromah", "kroma", "kromeh"],
    &["dolo", "doloh"],
    &["flomo", "flomoh"],
    &["zayzay", "zaizai", "zayzai"],
    &["gbeh", "gbe", "gbeah"],
    &["pewee", "peewee", "pewe"],
    &["sumo", "sumoh"],
    &["tarr", "tar"],
    &["wleh", "wlah"],
];

static CANONICAL: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
    let mut map = HashMap::new();
    for group in GROUPS {
        for spelling in *group {
            // First group wins: a spelling in two groups keeps its first meaning.
            map.entry(*spelling).or_insert(group[0]);
        }
    }
    map
});

/// The canonical spelling of a token's variant group, if it has one.
pub fn canonical(token: &str) -> Option<&'static str> {
    CANONICAL.get(token).copied()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_spelling_maps_to_its_group() {
        for group in super::GROUPS {
            for spelling in *group {
                assert_eq!(super::canonical(spelling).map(|_| ()), Some(()), "{spelling}");
            }
        }
        assert_eq!(super::canonical("mamadee"), Some("muhammad"));
        assert_eq!(super::canonical("jalloh"), Some("diallo"));
    }
}
